package testsvc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgInstallHint is what a skipped test says when PostgreSQL is missing.
const pgInstallHint = "PostgreSQL server binaries not found (initdb, postgres): " +
	"install Debian's postgresql package (apt-get install postgresql) or put its bin " +
	"directory on PATH; CI installs it via .ci/run, so these tests run there"

// PostgreSQL returns the DSN of a fresh, empty database in a throwaway
// PostgreSQL cluster shared by the tests of this binary. The database is
// dropped when the test ends. The test is skipped, loudly, when PostgreSQL
// is not installed.
func PostgreSQL(t testing.TB) string {
	t.Helper()
	c := sharedPostgreSQL(t)
	name := randomName("t_")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testsvc: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testsvc: drop database %s: %v", name, err)
		}
	})
	return c.dsn(name)
}

func sharedPostgreSQL(t testing.TB) *pgCluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.stopped {
		t.Fatal("testsvc: PostgreSQL requested after Stop")
	}
	if shared.pg == nil && shared.pgErr == nil && shared.pgSkip == "" {
		shared.pg, shared.pgSkip, shared.pgErr = startPostgreSQL()
	}
	if shared.pgSkip != "" {
		t.Skip("testsvc: SKIPPING: " + shared.pgSkip)
	}
	if shared.pgErr != nil {
		t.Fatalf("testsvc: start PostgreSQL: %v", shared.pgErr)
	}
	return shared.pg
}

// pgCluster is one running postgres server.
type pgCluster struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func (c *pgCluster) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// exec runs one statement as the superuser in the maintenance database.
func (c *pgCluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.dsn("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// pgBinDir finds the directory holding initdb and postgres: PATH first,
// then the newest Debian install under /usr/lib/postgresql.
func pgBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0])
	}
	return ""
}

// startPostgreSQL initialises and starts a cluster. It returns a skip reason
// when a prerequisite is missing, an error when startup fails.
func startPostgreSQL() (*pgCluster, string, error) {
	bin := pgBinDir()
	if bin == "" {
		return nil, pgInstallHint, nil
	}
	cred, skip := pgCredential()
	if skip != "" {
		return nil, skip, nil
	}
	dir, err := makeTempDir("pg")
	if err != nil {
		return nil, "", err
	}
	c, err := initAndStart(bin, dir, cred)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	return c, "", nil
}

// pgCredential picks the user postgres runs as: the postgres system user
// when the tests run as root (postgres refuses to run as root), else the
// current user (nil).
func pgCredential() (*syscall.Credential, string) {
	if os.Geteuid() != 0 {
		return nil, ""
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, "running as root and there is no 'postgres' system user to run the " +
			"server as (postgres refuses root): install Debian's postgresql package, which creates it"
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, "cannot parse the uid/gid of the postgres user"
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, ""
}

func initAndStart(bin, dir string, cred *syscall.Credential) (*pgCluster, error) {
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()

	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.Stdout, initdb.Stderr = logf, logf
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := initdb.Run(); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, tail(logPath, 2000))
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c, err := startServer(bin, dir, data, sock, port, cred, logf, logPath)
		if err == nil {
			return c, nil
		}
		lastErr = err // most likely the port was taken meanwhile: try another
	}
	return nil, lastErr
}

func startServer(bin, dir, data, sock string, port int, cred *syscall.Credential, logf *os.File, logPath string) (*pgCluster, error) {
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", data,
		"-p", strconv.Itoa(port),
		"-k", sock,
		"-c", "listen_addresses=127.0.0.1",
		// A throwaway cluster: durability buys nothing, speed buys a lot.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGQUIT is postgres' immediate shutdown: the cluster dies with the
	// test binary even when nobody calls Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &pgCluster{dir: dir, port: port, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.dsn("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("postgres exited during startup: %s", tail(logPath, 2000))
		default:
		}
		if time.Now().After(deadline) {
			c.kill()
			return nil, fmt.Errorf("postgres not ready after 30s: %v: %s", err, tail(logPath, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *pgCluster) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// stop shuts the server down (fast mode) and removes its files.
func (c *pgCluster) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.kill()
	}
	_ = os.RemoveAll(c.dir)
}
