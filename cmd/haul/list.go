package main

import (
	"fmt"
	"iter"
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
