package main

import (
	"context"
	"fmt"
	"iter"

	"github.com/haulhq/haul/client"
)

// maxPageSize is the largest page the list commands ask the server for.
const maxPageSize = 1000

// pageSize is the page size to request when at most limit items are
// wanted: limit itself up to maxPageSize, or 0 (the server's default)
// when limit is 0 (all).
func pageSize(limit int) int {
	if limit > 0 {
		return min(limit, maxPageSize)
	}
	return 0
}

// collect gathers the items of a paginated list, at most limit of them
// (0: all). An error is wrapped with what was being listed and made
// actionable by apiFailure.
func collect[T any](items iter.Seq2[T, error], limit int, what string) ([]T, error) {
	out := []T{}
	for it, err := range items {
		if err != nil {
			return nil, apiFailure(fmt.Errorf("%s: %w", what, err), "")
		}
		out = append(out, it)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// bulkAction describes a command that does one thing to each of several
// IDs: delete assets, revoke grants, remove webhooks.
type bulkAction struct {
	// Verb and Done name the action in messages ("delete", "deleted") and
	// Done is also the JSON field that reports the outcome.
	Verb, Done string
	// Noun names the objects in the summary ("assets").
	Noun string
	// Do acts on one ID.
	Do func(ctx context.Context, id string) error
}

// applyEach runs a over ids in order. A refused key or an interrupt stops
// at once (exit 4 / 130); any other failure is reported and the rest go on.
// Output is a line per ID (or a JSON object per ID with --json). A single
// failed ID exits with its own error's code; some failures out of many is a
// partial result (exit 3).
func applyEach(ctx context.Context, opts *apiOptions, ids []string, a bulkAction) error {
	failed := 0
	var lastErr error
	for _, id := range ids {
		if err := a.Do(ctx, id); err != nil {
			if client.IsAuth(err) || ctx.Err() != nil {
				return apiFailure(fmt.Errorf("%s %s: %w", a.Verb, id, err), "")
			}
			failed++
			lastErr = fmt.Errorf("%s %s: %w", a.Verb, id, err)
			if len(ids) > 1 {
				fmt.Fprintf(opts.IO.ErrOut, "haul: %v\n", lastErr)
			}
			if opts.JSON {
				_ = writeJSONLine(opts.IO.Out, map[string]any{"id": id, a.Done: false, "error": err.Error()})
			}
			continue
		}
		if opts.JSON {
			_ = writeJSONLine(opts.IO.Out, map[string]any{"id": id, a.Done: true})
		} else {
			fmt.Fprintf(opts.IO.Out, "%s %s\n", a.Done, id)
		}
	}
	switch {
	case failed == 0:
		return nil
	case failed == len(ids) && len(ids) == 1:
		return apiFailure(lastErr, "")
	}
	return withExit(exitPartial, fmt.Errorf("%d of %d %s not %s", failed, len(ids), a.Noun, a.Done))
}
