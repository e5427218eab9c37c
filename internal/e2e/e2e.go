// Package e2e runs the real haul binary for end-to-end tests. A test
// package calls Main from its TestMain to build the binary once, then
// StartServer for each server it needs:
//
//	func TestMain(m *testing.M) { e2e.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := e2e.StartServer(t)
//		req, _ := http.NewRequest("GET", srv.URL+"/v1/assets", nil)
//		req.Header.Set("Authorization", "Bearer "+srv.AdminKey)
//		…
//	}
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// Main builds the haul binary into a temporary directory, runs the tests
// and removes the directory. Use it as the body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Binary returns the path of the haul binary built from this module,
// building it on first use (once per test binary). HAUL_E2E_BINARY, when
// set, names a prebuilt binary to use instead.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("HAUL_E2E_BINARY"); p != "" {
			binPath = p
			return
		}
		root, err := moduleRoot()
		if err != nil {
			binErr = err
			return
		}
		binDir, err = os.MkdirTemp("", "haul-e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "haul")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/haul")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/haul: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("e2e: %v", binErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the e2e package source")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above " + file)
		}
		dir = parent
	}
}

// Server is a running `haul serve`.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Addr is host:port.
	Addr string
	// AdminKey is the bootstrap admin API key of tenant "default".
	AdminKey string
	// DataDir is the --data directory.
	DataDir string
	// Args are the extra arguments the server was started with.
	Args []string
	// HTTPClient reaches the server; with --tls-cert among Args it trusts
	// that certificate and URL is https.
	HTTPClient *http.Client

	t      testing.TB
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	output *syncBuffer
}

// Output returns everything the server wrote to stdout and stderr so far.
func (s *Server) Output() string { return s.output.String() }

// StartServer starts `haul serve` on a free loopback port with a fresh
// temporary data dir (unless extraArgs contain --data), waits until
// /readyz answers 200, and kills it when the test ends.
func StartServer(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	s := &Server{t: t, Args: extraArgs, output: &syncBuffer{}}
	s.DataDir = flagValue(extraArgs, "--data")
	if s.DataDir == "" {
		s.DataDir = t.TempDir()
	}
	s.start()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("haul serve output:\n%s", s.Output())
		}
	})
	return s
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func (s *Server) start() {
	t := s.t
	t.Helper()
	bin := Binary(t)
	if s.Addr == "" {
		s.Addr = freeAddr(t)
	}
	args := []string{"serve", "--addr", s.Addr}
	if flagValue(s.Args, "--data") == "" {
		args = append(args, "--data", s.DataDir)
	}
	args = append(args, s.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = Env(s.t)
	cmd.Stdout = s.output
	cmd.Stderr = s.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("e2e: start haul serve: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	s.URL = "http://" + s.Addr
	s.HTTPClient = &http.Client{}
	if certFile := flagValue(s.Args, "--tls-cert"); certFile != "" {
		pem, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatalf("e2e: %v", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			t.Fatalf("e2e: no certificate in %s", certFile)
		}
		s.URL = "https://" + s.Addr
		s.HTTPClient.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	}
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second, Transport: s.HTTPClient.Transport}
	for {
		select {
		case <-done:
			t.Fatalf("e2e: haul serve exited before becoming ready:\n%s", s.Output())
		default:
		}
		resp, err := client.Get(s.URL + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			s.Kill()
			t.Fatalf("e2e: haul serve not ready after 30s:\n%s", s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	key, err := os.ReadFile(filepath.Join(s.DataDir, "admin.key"))
	if err == nil {
		s.AdminKey = strings.TrimSpace(string(key))
	}
}

// Stop sends SIGTERM and waits (up to 20 s) for a graceful exit.
func (s *Server) Stop() {
	s.signal(syscall.SIGTERM, 20*time.Second)
}

// Kill sends SIGKILL and waits for the process to go.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL, 10*time.Second)
}

func (s *Server) signal(sig syscall.Signal, wait time.Duration) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Exited reports whether the process has ended, and its exit code.
func (s *Server) Exited() (bool, int) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	select {
	case <-done:
		return true, cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

// Restart stops the server gracefully and starts it again on the same
// address and data dir.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// KillAndRestart kills the server (SIGKILL, no cleanup) and starts it again
// on the same address and data dir.
func (s *Server) KillAndRestart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Run runs the haul binary with args (e.g. "admin", "key", "create", …)
// and returns its stdout, stderr and exit code.
func Run(t testing.TB, ctx context.Context, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = Env(t)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("e2e: run haul %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// Env is the environment haul runs with in tests: the test's environment
// without HAUL_* variables, with XDG_CONFIG_HOME pointing at an empty
// directory so no user config file leaks in.
func Env(t testing.TB) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HAUL_") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_CONFIG_HOME="+t.TempDir())
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("e2e: find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
