package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

// readAssetIDs reads asset ids from a --from-file: one id per line (blank
// lines and # comments ignored), or a CSV file whose header has an
// asset_id column (other columns are ignored).
func readAssetIDs(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from spreadsheets
	first := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			first = line
			break
		}
	}
	if strings.ContainsAny(first, ",;\t") || strings.EqualFold(strings.Trim(first, `"`), "asset_id") {
		return readCSVIDs(data, first)
	}
	var ids []string
	sc = bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := checkAssetID(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		ids = append(ids, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ids, nil
}

func readCSVIDs(data []byte, header string) ([]string, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	switch {
	case strings.Contains(header, "\t") && !strings.Contains(header, ","):
		cr.Comma = '\t'
	case strings.Contains(header, ";") && !strings.Contains(header, ","):
		cr.Comma = ';'
	}
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	col := slices.IndexFunc(head, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), "asset_id") })
	if col < 0 {
		return nil, fmt.Errorf("CSV header %q has no asset_id column", strings.Join(head, ","))
	}
	var ids []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return ids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if col >= len(rec) {
			return nil, fmt.Errorf("CSV line %d: no asset_id value", line)
		}
		id := strings.TrimSpace(rec[col])
		if id == "" {
			continue
		}
		if err := checkAssetID(id); err != nil {
			return nil, fmt.Errorf("CSV line %d: %w", line, err)
		}
		ids = append(ids, id)
	}
}

func checkAssetID(id string) error {
	if len(id) > 200 || strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%q is not an asset id", id)
	}
	return nil
}

// normalizeIDs sorts ids and drops duplicates, so the same set of assets
// makes the same request whatever the order they were given in.
func normalizeIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// exportIdempotencyKey derives the Idempotency-Key of an export request
// from its normalized content: running the same command again (after a
// crash, Ctrl-C or a CI retry) attaches to the export it created, and a
// different request never collides with it.
func exportIdempotencyKey(server, format, tag, name string, ids []string) string {
	b, _ := json.Marshal(struct {
		Server string   `json:"server"`
		Format string   `json:"format"`
		Tag    string   `json:"tag,omitempty"`
		Name   string   `json:"name,omitempty"`
		IDs    []string `json:"ids,omitempty"`
	}{server, format, tag, name, normalizeIDs(ids)})
	sum := sha256.Sum256(b)
	return "haul-export-" + hex.EncodeToString(sum[:16])
}
