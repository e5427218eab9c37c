package testsvc

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// s3InstallHint is what a skipped test says when versitygw is missing.
const s3InstallHint = "S3 server versitygw not found on PATH or in $(go env GOPATH)/bin: " +
	"go install github.com/versity/versitygw/cmd/versitygw@v1.8.0; " +
	"CI installs it via .ci/run, so these tests run there"

// S3Server describes a bucket on a running S3-compatible server.
type S3Server struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:34567.
	Endpoint string
	// Region is the signing region the server expects.
	Region string
	// Bucket is a fresh, empty bucket for this test.
	Bucket string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Dir is the directory backing the server: buckets are its
	// subdirectories (a test may create another bucket with os.Mkdir).
	Dir string
}

// URL returns the bucket as a haul blob URL,
// s3://BUCKET[/prefix]?endpoint=…&region=….
func (s S3Server) URL(prefix string) string {
	u := url.URL{Scheme: "s3", Host: s.Bucket, Path: "/" + prefix}
	if prefix == "" {
		u.Path = ""
	}
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", s.Region)
	u.RawQuery = q.Encode()
	return u.String()
}

// Env returns the standard AWS environment variables carrying the
// credentials, for processes started by the test.
func (s S3Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
	}
}

// S3 returns a fresh bucket on an S3 server (versitygw with its posix
// backend) shared by the tests of this binary. The bucket is removed when
// the test ends. The test is skipped, loudly, when versitygw is missing.
func S3(t testing.TB) S3Server {
	t.Helper()
	g := sharedS3(t)
	bucket := randomName("t-")
	dir := filepath.Join(g.dir, "root", bucket)
	// versitygw's posix backend treats every top-level directory as a bucket.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("testsvc: create bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return S3Server{
		Endpoint:  g.endpoint,
		Region:    g.region,
		Bucket:    bucket,
		AccessKey: g.access,
		SecretKey: g.secret,
		Dir:       filepath.Join(g.dir, "root"),
	}
}

func sharedS3(t testing.TB) *s3Gateway {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.stopped {
		t.Fatal("testsvc: S3 requested after Stop")
	}
	if shared.s3 == nil && shared.s3Err == nil && shared.s3Skip == "" {
		shared.s3, shared.s3Skip, shared.s3Err = startS3()
	}
	if shared.s3Skip != "" {
		t.Skip("testsvc: SKIPPING: " + shared.s3Skip)
	}
	if shared.s3Err != nil {
		t.Fatalf("testsvc: start versitygw: %v", shared.s3Err)
	}
	return shared.s3
}

// s3Gateway is one running versitygw.
type s3Gateway struct {
	dir                    string
	endpoint               string
	region, access, secret string
	cmd                    *exec.Cmd
	exited                 chan struct{}
}

// versitygwPath finds the binary on PATH or in the Go bin directory.
func versitygwPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gp := range filepath.SplitList(os.Getenv("GOPATH")) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func startS3() (*s3Gateway, string, error) {
	bin := versitygwPath()
	if bin == "" {
		return nil, s3InstallHint, nil
	}
	dir, err := makeTempDir("s3")
	if err != nil {
		return nil, "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "root"), 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		g, err := startGateway(bin, dir)
		if err == nil {
			return g, "", nil
		}
		lastErr = err // most likely the port was taken meanwhile: try another
	}
	_ = os.RemoveAll(dir)
	return nil, "", lastErr
}

func startGateway(bin, dir string) (*s3Gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	g := &s3Gateway{
		dir:      dir,
		endpoint: "http://" + addr,
		region:   "us-east-1",
		access:   "haultestaccess",
		secret:   "haultestsecret0123456789",
		exited:   make(chan struct{}),
	}
	logPath := filepath.Join(dir, "versitygw.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	g.cmd = exec.Command(bin,
		"--access", g.access, "--secret", g.secret,
		"--region", g.region,
		"--port", addr,
		"--quiet",
		"posix", filepath.Join(dir, "root"))
	g.cmd.Dir = dir
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	if err := waitTCP(addr, g.exited, 30*time.Second); err != nil {
		g.kill()
		return nil, fmt.Errorf("versitygw: %w: %s", err, tail(logPath, 2000))
	}
	// Listening is not always serving yet: wait for an HTTP answer.
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(g.endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return g, nil
		}
		if time.Now().After(deadline) {
			g.kill()
			return nil, fmt.Errorf("versitygw does not answer HTTP: %w: %s", err, tail(logPath, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *s3Gateway) kill() {
	_ = g.cmd.Process.Kill()
	<-g.exited
}

func (g *s3Gateway) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		g.kill()
	}
	_ = os.RemoveAll(g.dir)
}
