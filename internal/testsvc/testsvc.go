// Package testsvc starts real backing services for tests — a throwaway
// PostgreSQL cluster and an S3 server (versitygw) — on loopback, in temp
// directories, and cleans them up.
//
// Each service is started at most once per test binary and shared by every
// test in it (starting PostgreSQL costs about a second); isolation comes
// from a fresh database or bucket per test. Call Main from TestMain so the
// shared services stop when the tests end:
//
//	func TestMain(m *testing.M) { testsvc.Main(m) }
//
// Without Main the services still die with the test binary (they get a
// parent-death signal), and their leftover temp directories are swept by
// the next run.
//
// When a tool is missing the helpers call t.Skip with a message naming what
// to install; CI (.ci/run) installs everything, so there these tests run.
package testsvc

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tempPrefix names every directory this package creates under os.TempDir,
// so a later run can find and remove what a killed run left behind.
const tempPrefix = "haul-testsvc-"

// ownerFile holds the pid of the test binary that owns a temp directory.
const ownerFile = "owner.pid"

// registry holds the services shared by the tests of one binary. It is the
// one piece of package-level state: sharing across tests is its purpose.
type registry struct {
	mu      sync.Mutex
	pg      *pgCluster
	pgErr   error
	pgSkip  string
	s3      *s3Gateway
	s3Err   error
	s3Skip  string
	stopped bool
}

var shared registry

// Main runs the tests of a package and then stops the services they shared.
// Use it as the body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the shared services and removes their temp directories. Tests
// asking for a service afterwards fail.
func Stop() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.stopped = true
	if shared.pg != nil {
		shared.pg.stop()
		shared.pg = nil
	}
	if shared.s3 != nil {
		shared.s3.stop()
		shared.s3 = nil
	}
}

// makeTempDir creates a directory for one service, records this process as
// its owner and first removes directories whose owner has died.
func makeTempDir(kind string) (string, error) {
	sweepStale()
	dir, err := os.MkdirTemp(serviceTempRoot(), tempPrefix+kind+"-")
	if err != nil {
		return "", fmt.Errorf("create temp dir: %w", err)
	}
	// The services may run as another user (postgres refuses root), and
	// they need to traverse this directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("chmod temp dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", fmt.Errorf("write owner file: %w", err)
	}
	return dir, nil
}

// serviceTempRoot is where service directories go: os.TempDir, unless a
// service running as another user (postgres, when the tests run as root)
// could not reach it there — a TMPDIR under /root, say — and then /tmp.
func serviceTempRoot() string {
	dir := os.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// sweepStale removes temp directories left by test binaries that are gone.
func sweepStale() {
	entries, err := os.ReadDir(serviceTempRoot())
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		dir := filepath.Join(serviceTempRoot(), e.Name())
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being created right now, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until something accepts connections on addr, the process
// behind it exits (exited is closed) or the timeout passes.
func waitTCP(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("process exited before it accepted connections")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the last n bytes of a log file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	b := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(b, off)
	return strings.TrimSpace(string(b))
}

// randomName returns a short random lower-case name with the prefix,
// valid as a PostgreSQL identifier and an S3 bucket name.
func randomName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s%x", prefix, b)
}
