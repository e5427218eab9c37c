package downloader

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// StateDir is the directory under the output directory that holds part
// files and the journal.
const StateDir = ".haul"

// doneLog is the append-only record of completed files.
const doneLog = "done.ndjson"

// journal owns DIR/.haul: one part file and one state file per file in
// progress, and an append-only log of completed files. State files are
// rewritten at checkpoints (write to a temp file, rename), never fsynced per
// chunk: data written before a checkpoint is in the page cache, so it
// survives kill -9, and on restart the part file and the state are
// reconciled by trusting the smaller.
type journal struct {
	dir string // DIR/.haul

	mu   sync.Mutex
	seed maphash.Seed
	done map[uint64]doneEntry // by hash of the name: small with huge manifests
	log  *os.File
	// logBuf holds done records not yet written: with thousands of small
	// files one write per file is a measurable cost, so records are
	// written in batches, at most doneFlushDelay after they were added,
	// and at close. A record lost to kill -9 costs little: the file is in
	// place, and a re-run re-hashes it against the manifest's checksum
	// (or, without one, downloads it again).
	logBuf     []byte
	flushTimer *time.Timer
	// existing holds the file IDs that had a part or state file when the
	// journal was opened; other files start fresh without looking.
	existing map[string]bool
}

// doneRecord is one line of done.ndjson.
type doneRecord struct {
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Time   time.Time `json:"time"`
}

// doneEntry is the in-memory form of a done record.
type doneEntry struct {
	size int64
	sha  [32]byte
}

func (j *journal) key(name string) uint64 { return maphash.String(j.seed, name) }

// validator identifies a representation for If-Range.
type validator struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

func (v validator) empty() bool { return v.ETag == "" && v.LastModified == "" }

// ifRange is the If-Range value: a strong ETag, else Last-Modified.
func (v validator) ifRange() string {
	if v.ETag != "" && !isWeak(v.ETag) {
		return v.ETag
	}
	return v.LastModified
}

func isWeak(etag string) bool { return len(etag) >= 2 && etag[:2] == "W/" }

// segment is a byte range [Start, End) of which Done bytes from Start are
// on disk. End is -1 while the size is unknown.
type segment struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	Done  int64 `json:"done"`
}

func (sg segment) complete() bool { return sg.End >= 0 && sg.Start+sg.Done >= sg.End }

// fileState is the journal of one file in progress. One segment means a
// single connection writing sequentially; several mean ranged connections
// writing into a preallocated part file.
type fileState struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// ResolvedURL is where URL redirected to (a grant link's signed URL),
	// when elsewhere. Later requests for the file, ranged segments,
	// retries and resumes go there, so a link that counts downloads is
	// followed once per file, and a one-time link can be resumed.
	ResolvedURL string    `json:"resolved_url,omitempty"`
	Size        int64     `json:"size"` // total, 0 when unknown
	Validator   validator `json:"validator"`
	Segments    []segment `json:"segments"`
	// HashOffset is how many leading bytes Hash covers; never more than
	// the contiguous prefix on disk.
	HashOffset int64 `json:"hash_offset"`
	// Hash is the marshaled crypto/sha256 state after HashOffset bytes.
	Hash []byte `json:"hash,omitempty"`
}

// newFileState is the state of a file not started yet.
func newFileState(name, url string, size int64) fileState {
	end := int64(-1)
	if size > 0 {
		end = size
	}
	return fileState{Name: name, URL: url, Size: size, Segments: []segment{{Start: 0, End: end}}}
}

// frontier returns the length of the contiguous prefix on disk.
func (s *fileState) frontier() int64 {
	var n int64
	for _, sg := range s.Segments {
		if sg.Start != n {
			return n
		}
		n = sg.Start + sg.Done
		if !sg.complete() {
			return n
		}
	}
	return n
}

// bytesOnDisk counts the bytes of all segments.
func (s *fileState) bytesOnDisk() int64 {
	var n int64
	for _, sg := range s.Segments {
		n += sg.Done
	}
	return n
}

// complete reports whether every segment is complete.
func (s *fileState) complete() bool {
	for _, sg := range s.Segments {
		if !sg.complete() {
			return false
		}
	}
	return len(s.Segments) > 0
}

func entryOf(r doneRecord) (doneEntry, bool) {
	e := doneEntry{size: r.Size}
	b, err := hex.DecodeString(r.SHA256)
	if err != nil || len(b) != 32 {
		return e, false
	}
	copy(e.sha[:], b)
	return e, true
}

func openJournal(outDir string) (*journal, error) {
	dir := filepath.Join(outDir, StateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &journal{dir: dir, seed: maphash.MakeSeed(), done: make(map[uint64]doneEntry), existing: make(map[string]bool)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if id, ok := strings.CutSuffix(n, ".part"); ok {
			j.existing[id] = true
		} else if id, ok := strings.CutSuffix(n, ".json"); ok {
			j.existing[id] = true
		}
	}
	path := filepath.Join(dir, doneLog)
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r doneRecord
			// A torn last line after a crash is skipped.
			if json.Unmarshal(sc.Bytes(), &r) != nil || r.Name == "" {
				continue
			}
			if r.Size < 0 {
				delete(j.done, j.key(r.Name))
			} else if e, ok := entryOf(r); ok {
				j.done[j.key(r.Name)] = e
			}
		}
		f.Close()
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.log = f
	return j, nil
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.log == nil {
		return nil
	}
	if j.flushTimer != nil {
		j.flushTimer.Stop()
		j.flushTimer = nil
	}
	ferr := j.flushLocked()
	err := j.log.Close()
	j.log = nil
	return cmp.Or(ferr, err)
}

// fileID names the part and state files of a target.
func fileID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:12])
}

func (j *journal) partPath(name string) string {
	return filepath.Join(j.dir, fileID(name)+".part")
}

func (j *journal) statePath(name string) string {
	return filepath.Join(j.dir, fileID(name)+".json")
}

// mayHave reports whether name may have a part or state file.
func (j *journal) mayHave(name string) bool {
	return j.existing[fileID(name)]
}

// completed returns the done record of name.
func (j *journal) completed(name string) (doneRecord, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.done[j.key(name)]
	if !ok {
		return doneRecord{}, false
	}
	return doneRecord{Name: name, Size: e.size, SHA256: hex.EncodeToString(e.sha[:])}, true
}

// doneFlushDelay is the longest a done record waits in memory;
// doneFlushSize the batch that is written at once.
const (
	doneFlushDelay = 500 * time.Millisecond
	doneFlushSize  = 32 << 10
)

// markDone appends a done record. Records are written in batches of whole
// lines, so a crash never leaves more than a torn last line.
func (j *journal) markDone(r doneRecord) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return j.appendLine(line)
}

func (j *journal) appendLine(line []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	// Not added to j.done: within one run a target is claimed once, so
	// only records from earlier runs are ever looked up; memory stays flat.
	if j.log == nil {
		return errors.New("journal closed")
	}
	j.logBuf = append(j.logBuf, line...)
	j.logBuf = append(j.logBuf, '\n')
	if len(j.logBuf) >= doneFlushSize {
		return j.flushLocked()
	}
	if j.flushTimer == nil {
		j.flushTimer = time.AfterFunc(doneFlushDelay, func() {
			j.mu.Lock()
			defer j.mu.Unlock()
			j.flushTimer = nil
			_ = j.flushLocked()
		})
	}
	return nil
}

// flushLocked writes the pending done records.
func (j *journal) flushLocked() error {
	if len(j.logBuf) == 0 || j.log == nil {
		return nil
	}
	_, err := j.log.Write(j.logBuf)
	j.logBuf = j.logBuf[:0]
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// forget drops name's done record (the file changed on the server or on
// disk) by appending a tombstone.
func (j *journal) forget(name string) {
	j.mu.Lock()
	_, ok := j.done[j.key(name)]
	delete(j.done, j.key(name))
	j.mu.Unlock()
	if ok {
		_ = j.markDoneTombstone(name)
	}
}

func (j *journal) markDoneTombstone(name string) error {
	line, _ := json.Marshal(doneRecord{Name: name, Size: -1})
	return j.appendLine(line)
}

// loadState reads the state of name; nil when there is none or it is
// unreadable (a torn write is the same as no checkpoint).
func (j *journal) loadState(name string) *fileState {
	data, err := os.ReadFile(j.statePath(name))
	if err != nil {
		return nil
	}
	var s fileState
	if json.Unmarshal(data, &s) != nil || s.Name != name {
		return nil
	}
	return &s
}

// saveState writes a checkpoint atomically (temp file + rename, no fsync).
func (j *journal) saveState(name string, data []byte) error {
	path := j.statePath(name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// discard removes the part file and state of name.
func (j *journal) discard(name string) {
	for _, p := range []string{j.partPath(name), j.statePath(name)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
	}
}

// removeState drops the state file after the part was renamed into place.
func (j *journal) removeState(name string) {
	_ = os.Remove(j.statePath(name))
}

// ReplacedDir is where, under the state directory, files that stood at a
// target name without being known to the journal are kept when a download
// takes their place.
const ReplacedDir = "replaced"

// keepReplaced moves the file at path, the target of name, to
// .haul/replaced/NAME (NAME.1, NAME.2, … when taken) and returns where it
// went, or "" when nothing is at path any more.
func (j *journal) keepReplaced(name, path string) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	dst := filepath.Join(j.dir, ReplacedDir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("keep the file at %s: %w", name, err)
	}
	for i := 0; ; i++ {
		try := dst
		if i > 0 {
			try = fmt.Sprintf("%s.%d", dst, i)
		}
		// Link then remove: never overwrites a kept file, and the file is
		// at one of the two names at every moment.
		err := os.Link(path, try)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			// No hard links here (some file systems): a rename, after
			// checking the name is free.
			if _, serr := os.Lstat(try); serr == nil {
				continue
			}
			if rerr := os.Rename(path, try); rerr != nil {
				return "", fmt.Errorf("keep the file at %s: %w", name, rerr)
			}
			return try, nil
		}
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("keep the file at %s: %w", name, err)
		}
		return try, nil
	}
}
