package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/haulhq/haul/client"
)

// exampleServer is a tiny stand-in for `haul serve`, enough for the examples
// to run as tests.
func exampleServer() *httptest.Server {
	var mu sync.Mutex
	polls := 0
	jobPolls := 0
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /v1/assets", func(w http.ResponseWriter, r *http.Request) {
		var req client.CreateAssetRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		send(w, 201, client.Asset{ID: "ast_01", Title: req.Title, Filename: req.Filename, State: "created"})
	})
	mux.HandleFunc("PUT /v1/assets/{id}/content", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		if r.Header.Get("Repr-Digest") != client.ReprDigest(h.Sum(nil)) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(422)
			_, _ = io.WriteString(w, `{"status":422,"code":"digest_mismatch"}`)
			return
		}
		send(w, 200, client.Asset{ID: r.PathValue("id"), State: "uploaded", Size: n, Checksum: fmt.Sprintf("sha256:%x", h.Sum(nil))})
	})
	mux.HandleFunc("GET /v1/assets", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			send(w, 200, client.Page[client.Asset]{Data: []client.Asset{{ID: "ast_01", Title: "Opening", State: "available"}}, NextCursor: "ast_01"})
			return
		}
		send(w, 200, client.Page[client.Asset]{Data: []client.Asset{{ID: "ast_02", Title: "Finale", State: "available"}}})
	})
	mux.HandleFunc("POST /v1/assets/{id}/downloads", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/v1/jobs/job_01")
		w.Header().Set("Retry-After", "0")
		send(w, 202, client.JobRef{JobID: "job_01", Status: "queued", EstimatedSeconds: 2})
	})
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		jobPolls++
		n := jobPolls
		mu.Unlock()
		if n < 2 {
			send(w, 200, client.Job{ID: "job_01", Status: "processing", Progress: 0.5})
			return
		}
		send(w, 200, client.Job{ID: "job_01", Status: "succeeded", Progress: 1,
			Result: &client.Download{DownloadURL: "http://" + r.Host + "/dl/opening_ast_01_mp4_720p.mp4?exp=1&sig=x", Filename: "opening_ast_01_mp4_720p.mp4", Size: 1234}})
	})
	mux.HandleFunc("POST /v1/exports", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer export-key" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(403)
			_, _ = io.WriteString(w, `{"status":403,"code":"forbidden","title":"Forbidden","detail":"API key lacks the export scope"}`)
			return
		}
		send(w, 202, client.Export{ID: "exp_01", Status: "processing", ManifestURL: "/v1/exports/exp_01/manifest"})
	})
	mux.HandleFunc("GET /v1/exports/{id}/manifest", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls++
		n := polls
		mu.Unlock()
		second := `{"id":"itm_2","asset_id":"ast_02","status":"processing","filename":"finale_ast_02_mp4_720p.mp4"}`
		status := "processing"
		if n > 1 {
			second = `{"id":"itm_2","asset_id":"ast_02","status":"failed","filename":"finale_ast_02_mp4_720p.mp4","error":{"code":"transcode_failed","detail":"no video stream"}}`
			status = "partial"
		}
		fmt.Fprintf(w, `{"version":1,"id":"exp_01","status":%q,"self":"http://%s/v1/exports/exp_01/manifest","items":[
			{"id":"itm_1","asset_id":"ast_01","status":"ready","filename":"opening_ast_01_mp4_720p.mp4","url":"http://%s/dl/1?sig=x","size":1234},
			%s]}`, status, r.Host, r.Host, second)
	})
	return httptest.NewServer(mux)
}

func ExampleNew() {
	c, err := client.New(client.Options{
		BaseURL:   "https://media.example.com",
		Token:     os.Getenv("HAUL_TOKEN"),
		UserAgent: "my-tool/1.0",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.BaseURL())
	// Output: https://media.example.com
}

func ExampleClient_CreateExport() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := client.New(client.Options{BaseURL: srv.URL, Token: "export-key"})
	ctx := context.Background()

	// The same key on a re-run attaches to the same export.
	exp, err := c.CreateExport(ctx, client.CreateExportRequest{Format: "mp4_720p", Tag: "season-1"},
		client.WithIdempotencyKey("export-season-1-mp4_720p"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("export", exp.ID, exp.Status)

	// Long-poll the manifest until every item is ready or failed.
	for m, err := range c.WatchManifest(ctx, exp.ID, 30*time.Second) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("manifest", m.Status)
		if client.ManifestFinished(m) {
			for _, it := range m.Items {
				if it.Error != nil {
					fmt.Println(" ", it.Filename, it.Status, it.Error.Code)
				} else {
					fmt.Println(" ", it.Filename, it.Status, it.Size)
				}
			}
		}
	}
	// Output:
	// export exp_01 processing
	// manifest processing
	// manifest partial
	//   opening_ast_01_mp4_720p.mp4 ready 1234
	//   finale_ast_02_mp4_720p.mp4 failed transcode_failed
}

func ExampleClient_Upload() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := client.New(client.Options{BaseURL: srv.URL, Token: "write-key"})

	dir, _ := os.MkdirTemp("", "haul-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "greeting.txt")
	_ = os.WriteFile(path, []byte("hello, haul\n"), 0o644)

	// Upload hashes the file first, then streams it with Repr-Digest so the
	// server verifies the bytes it stores.
	a, err := c.Upload(context.Background(), path, client.CreateAssetRequest{Title: "Greeting", Tags: []string{"docs"}}, client.UploadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.ID, a.State, a.Size, a.Checksum)
	// Output: ast_01 uploaded 12 sha256:db576fb4ed8934340f48ad622e3c99886afec9f9159d77290205b6d8769a7136
}

func ExampleClient_ListAssets() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := client.New(client.Options{BaseURL: srv.URL, Token: "read-key"})

	// The iterator fetches further pages as the loop reaches them.
	for a, err := range c.ListAssets(context.Background(), client.AssetListOptions{Tag: "season-1"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a.ID, a.Title)
	}
	// Output:
	// ast_01 Opening
	// ast_02 Finale
}

func ExampleClient_DownloadWhenReady() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := client.New(client.Options{BaseURL: srv.URL, Token: "export-key", PollIntervalMin: time.Millisecond})

	// A 202 answer is waited out by polling the job.
	d, err := c.DownloadWhenReady(context.Background(), "ast_01", client.DownloadRequest{Format: "mp4_720p"},
		func(j *client.Job) { fmt.Printf("job %s %.0f%%\n", j.Status, j.Progress*100) })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Filename, d.Size)
	// Output:
	// job processing 50%
	// job succeeded 100%
	// opening_ast_01_mp4_720p.mp4 1234
}

func ExampleAPIError() {
	srv := exampleServer()
	defer srv.Close()
	c, _ := client.New(client.Options{BaseURL: srv.URL, Token: "read-only-key"})

	_, err := c.CreateExport(context.Background(), client.CreateExportRequest{Format: "original", Tag: "x"})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code)
	}
	fmt.Println(client.IsAuth(err))
	fmt.Println(err)
	// Output:
	// 403 forbidden
	// true
	// permission denied: API key lacks the export scope [forbidden]
}
