package server

import (
	"errors"
	"io"
	"syscall"
)

// sizedFile is a blob file of known size handed to http.ServeContent. It
// answers ServeContent's Seek(0, io.SeekEnd) / Seek(0, io.SeekStart) size
// probe from the size instead of two lseek calls per response, moves the
// real offset only when bytes are read, and still gives net/http the
// descriptor (SyscallConn) so the body goes out with sendfile. Once the
// descriptor has been handed out (sendfile moves its offset), every call
// goes straight to the file.
type sizedFile struct {
	f      fileLike
	size   int64
	pos    int64 // logical offset
	real   int64 // the descriptor's offset
	direct bool
}

// fileLike is an open file: readable, seekable, with a descriptor.
type fileLike interface {
	io.ReadSeeker
	syscall.Conn
}

func newSizedFile(f fileLike, size int64) *sizedFile {
	return &sizedFile{f: f, size: size}
}

// Seek implements io.Seeker.
func (s *sizedFile) Seek(offset int64, whence int) (int64, error) {
	if s.direct {
		return s.f.Seek(offset, whence)
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.pos + offset
	case io.SeekEnd:
		abs = s.size + offset
	default:
		return 0, errors.New("sizedFile.Seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("sizedFile.Seek: negative position")
	}
	s.pos = abs
	return abs, nil
}

// sync moves the descriptor to the logical offset.
func (s *sizedFile) sync() error {
	if s.real == s.pos {
		return nil
	}
	n, err := s.f.Seek(s.pos, io.SeekStart)
	if err != nil {
		s.direct = true
		return err
	}
	s.real = n
	return nil
}

// Read implements io.Reader.
func (s *sizedFile) Read(p []byte) (int, error) {
	if s.direct {
		return s.f.Read(p)
	}
	if err := s.sync(); err != nil {
		return 0, err
	}
	n, err := s.f.Read(p)
	s.pos += int64(n)
	s.real = s.pos
	return n, err
}

// SyscallConn hands the descriptor, at the logical offset, to sendfile.
func (s *sizedFile) SyscallConn() (syscall.RawConn, error) {
	if !s.direct {
		if err := s.sync(); err != nil {
			return nil, err
		}
		s.direct = true
	}
	return s.f.SyscallConn()
}
