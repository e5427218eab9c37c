package client

import (
	"context"
	"iter"
	"net/url"
	"strconv"
)

// Page is one page of a cursor-paginated list.
type Page[T any] struct {
	// Data are the page's items.
	Data []T `json:"data"`
	// NextCursor continues the list; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ListOptions page through a list.
type ListOptions struct {
	// Limit is the page size; the server's default when 0.
	Limit int
	// Cursor starts from a page returned earlier.
	Cursor string
}

func (o ListOptions) values() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// listPage fetches one page.
func listPage[T any](ctx context.Context, c *Client, path string, q url.Values) (*Page[T], error) {
	var p Page[T]
	if _, err := c.call(ctx, &request{method: "GET", path: path, query: q}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// listAll iterates over every item of every page, fetching pages lazily. An
// error ends the iteration after being yielded once.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		q := cloneValues(q)
		seen := map[string]bool{}
		for {
			p, err := listPage[T](ctx, c, path, q)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range p.Data {
				if !yield(item, nil) {
					return
				}
			}
			// A repeated cursor would loop forever; stop instead.
			if p.NextCursor == "" || seen[p.NextCursor] {
				return
			}
			seen[p.NextCursor] = true
			q.Set("cursor", p.NextCursor)
		}
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
