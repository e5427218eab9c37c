package store

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// ID prefixes, one per kind of object. An ID is the prefix, "_", and 26
// characters of Crockford base32 (a ULID: 48 bits of Unix milliseconds and
// 80 random bits), so IDs sort by creation time as plain strings.
const (
	PrefixTenant     = "ten"
	PrefixAPIKey     = "key"
	PrefixAsset      = "ast"
	PrefixRendition  = "rnd"
	PrefixJob        = "job"
	PrefixExport     = "exp"
	PrefixGrant      = "grt"
	PrefixEvent      = "evt"
	PrefixWebhook    = "whk"
	PrefixDelivery   = "dlv"
	PrefixAttempt    = "att"
	PrefixSigningKey = "sig"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDSource makes monotonic IDs: within one millisecond each ID is the
// previous one plus one in its random part, so IDs made by one process are
// strictly increasing. The zero value is ready to use.
type IDSource struct {
	mu     sync.Mutex
	lastMS uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64 of the 80 random bits
}

// New returns a fresh ID with the prefix for time now.
func (s *IDSource) New(prefix string, now time.Time) string {
	ms := uint64(now.UnixMilli())
	s.mu.Lock()
	if ms <= s.lastMS {
		// Same millisecond (or the clock went back): stay monotonic.
		ms = s.lastMS
		s.lo++
		if s.lo == 0 {
			s.hi++
			if s.hi == 0 { // 2^80 IDs in a millisecond: move to the next one
				ms++
			}
		}
	} else {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("store: crypto/rand failed: " + err.Error())
		}
		s.hi = binary.BigEndian.Uint16(b[:2]) & 0x7fff // room to count up
		s.lo = binary.BigEndian.Uint64(b[2:])
	}
	s.lastMS = ms
	hi, lo := s.hi, s.lo
	s.mu.Unlock()
	return prefix + "_" + encodeULID(ms, hi, lo)
}

// encodeULID writes 48 bits of time and 80 random bits as 26 base32 digits.
func encodeULID(ms uint64, hi uint16, lo uint64) string {
	var out [26]byte
	// 128-bit value: ms(48) | hi(16) | lo(64); the top 2 bits of 130 are 0.
	h := ms<<16 | uint64(hi) // high 64 bits
	l := lo                  // low 64 bits
	for i := 25; i >= 0; i-- {
		out[i] = crockford[l&31]
		l = l>>5 | h<<59
		h >>= 5
	}
	return string(out[:])
}

// ids is the process-wide source behind NewID. It is the one piece of
// package state: IDs from one process must be monotonic whichever code
// path makes them, as with a database sequence.
var ids IDSource

// NewID returns a new sortable ID such as "ast_01JDQ3…" for the current time.
func NewID(prefix string) string { return ids.New(prefix, time.Now()) }

// NewIDAt returns a new sortable ID for time now (tests, replayable clocks).
func NewIDAt(prefix string, now time.Time) string { return ids.New(prefix, now) }

// IDTime returns the creation time encoded in an ID, and false when id is
// not one of ours.
func IDTime(id string) (time.Time, bool) {
	i := strings.LastIndexByte(id, '_')
	if i < 0 || len(id)-i-1 != 26 {
		return time.Time{}, false
	}
	var ms uint64
	for j, c := range id[i+1:] {
		d := strings.IndexRune(crockford, c)
		if d < 0 {
			return time.Time{}, false
		}
		if j < 10 { // the first 10 digits: 2 zero bits and 48 bits of ms
			ms = ms<<5 | uint64(d)
		}
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// HasPrefix reports whether id looks like an ID of the given kind.
func HasPrefix(id, prefix string) bool {
	return len(id) == len(prefix)+27 && strings.HasPrefix(id, prefix+"_")
}
