package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func grant(t *testing.T, s store.Store, tenantID, assetID string, policy store.GrantPolicy, max int, token string) *store.Grant {
	t.Helper()
	g := &store.Grant{TenantID: tenantID, AssetID: assetID, Policy: policy, MaxDownloads: max, TokenHash: token,
		AccessExpiresAt: t0.Add(time.Hour), Recipient: "bob@example.com", CreatedAt: t0}
	must(t, s.CreateGrant(ctx(t), g))
	return g
}

func testGrantsOneTime(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	g := grant(t, s, tn.ID, a.ID, store.GrantOneTime, 0, "tok1")
	if !store.HasPrefix(g.ID, store.PrefixGrant) || g.Status != store.GrantActive || g.MaxDownloads != 1 {
		t.Fatalf("CreateGrant filled %+v", g)
	}
	got, err := s.GetGrantByTokenHash(ctx(t), "tok1")
	must(t, err)
	if got.ID != g.ID || got.Remaining() != 1 || got.Recipient != "bob@example.com" {
		t.Fatalf("GetGrantByTokenHash = %+v", got)
	}
	r, err := s.RedeemGrant(ctx(t), "tok1", t0.Add(time.Minute))
	must(t, err)
	if r.DownloadsUsed != 1 || r.Status != store.GrantConsumed || r.Remaining() != 0 {
		t.Fatalf("redeemed = %+v", r)
	}
	sameTime(t, "LastAccessedAt", r.LastAccessedAt, t0.Add(time.Minute))
	r, err = s.RedeemGrant(ctx(t), "tok1", t0.Add(2*time.Minute))
	wantCode(t, err, store.EGRANTCONSUMED)
	if r == nil || r.ID != g.ID || r.DownloadsUsed != 1 {
		t.Fatalf("refused redemption returned %+v", r)
	}
	r, err = s.RedeemGrant(ctx(t), "nope", t0)
	wantCode(t, err, store.ENOTFOUND)
	if r != nil {
		t.Fatal("unknown token returned a grant")
	}
	wantCode(t, s.CreateGrant(ctx(t), &store.Grant{TenantID: tn.ID, AssetID: a.ID, Policy: store.GrantOneTime,
		TokenHash: "tok1", AccessExpiresAt: t0.Add(time.Hour)}), store.ECONFLICT)
	wantCode(t, s.CreateGrant(ctx(t), &store.Grant{TenantID: tn.ID, AssetID: a.ID, Policy: "forever",
		TokenHash: "tok2", AccessExpiresAt: t0.Add(time.Hour)}), store.EINVALID)
	wantCode(t, s.CreateGrant(ctx(t), &store.Grant{TenantID: tn.ID, AssetID: a.ID, Policy: store.GrantLimited,
		TokenHash: "tok3", AccessExpiresAt: t0.Add(time.Hour)}), store.EINVALID)
	wantCode(t, s.CreateGrant(ctx(t), &store.Grant{TenantID: tn.ID, AssetID: "ast_missing", Policy: store.GrantOneTime,
		TokenHash: "tok4", AccessExpiresAt: t0.Add(time.Hour)}), store.ENOTFOUND)
}

func testGrantsRedeemConcurrent(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	for round := range 5 {
		tok := fmt.Sprint("once-", round)
		grant(t, s, tn.ID, a.ID, store.GrantOneTime, 0, tok)
		var wins, consumed atomic.Int32
		errs := parallel(2, func(int) error {
			_, err := s.RedeemGrant(ctx(t), tok, t0.Add(time.Minute))
			switch store.ErrorCode(err) {
			case "":
				wins.Add(1)
			case store.EGRANTCONSUMED:
				consumed.Add(1)
			default:
				return err
			}
			return nil
		})
		must(t, firstErr(errs))
		if wins.Load() != 1 || consumed.Load() != 1 {
			t.Fatalf("round %d: %d wins, %d consumed; want exactly one win", round, wins.Load(), consumed.Load())
		}
	}
	// A limited grant under a crowd: exactly max succeed.
	grant(t, s, tn.ID, a.ID, store.GrantLimited, 3, "three")
	var wins atomic.Int32
	must(t, firstErr(parallel(12, func(int) error {
		_, err := s.RedeemGrant(ctx(t), "three", t0.Add(time.Minute))
		if err == nil {
			wins.Add(1)
			return nil
		}
		if store.ErrorCode(err) != store.EGRANTCONSUMED {
			return err
		}
		return nil
	})))
	if wins.Load() != 3 {
		t.Fatalf("%d redemptions of a 3-download grant succeeded", wins.Load())
	}
}

// testGrantsRedeemRowLockTx redeems one grant from a crowd the way the
// server does, in WithRowLockTx with the event appends: exactly max win,
// the rest see grant_consumed, and nobody gets any other error (on
// PostgreSQL a serializable transaction here failed under contention).
func testGrantsRedeemRowLockTx(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	grant(t, s, tn.ID, a.ID, store.GrantLimited, 10, "crowd")
	var wins atomic.Int32
	must(t, firstErr(parallel(32, func(int) error {
		err := s.WithRowLockTx(ctx(t), func(tx store.Tx) error {
			g, err := tx.RedeemGrant(ctx(t), "crowd", t0.Add(time.Minute))
			if err != nil {
				return err
			}
			return tx.AppendEvent(ctx(t), &store.Event{TenantID: g.TenantID, Type: store.EventGrantAccessed, Data: []byte(`{}`)})
		})
		switch store.ErrorCode(err) {
		case "":
			wins.Add(1)
		case store.EGRANTCONSUMED:
		default:
			return err
		}
		return nil
	})))
	if wins.Load() != 10 {
		t.Fatalf("%d redemptions of a 10-download grant succeeded", wins.Load())
	}
	evs, _, err := s.ListEvents(ctx(t), tn.ID, store.EventFilter{Types: []string{store.EventGrantAccessed}, Page: store.Page{Limit: 100}})
	must(t, err)
	if len(evs) != 10 {
		t.Fatalf("%d grant.accessed events, want 10", len(evs))
	}
}

func testGrantsLimitedAndRenewable(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a")
	lim := grant(t, s, tn.ID, a.ID, store.GrantLimited, 2, "lim")
	for i := range 2 {
		r, err := s.RedeemGrant(ctx(t), "lim", t0.Add(time.Minute))
		must(t, err)
		if r.DownloadsUsed != i+1 {
			t.Fatalf("used = %d", r.DownloadsUsed)
		}
	}
	r, err := s.RedeemGrant(ctx(t), "lim", t0.Add(time.Minute))
	wantCode(t, err, store.EGRANTCONSUMED)
	if r.Status != store.GrantConsumed {
		t.Fatalf("exhausted limited grant status = %s", r.Status)
	}
	_, err = s.RenewGrant(ctx(t), tn.ID, lim.ID, t0.Add(2*time.Hour), t0)
	wantCode(t, err, store.ECONFLICT)

	// Renewable and unlimited: redeem many times, expire, renew, redeem again.
	rn := grant(t, s, tn.ID, a.ID, store.GrantRenewable, 0, "ren")
	for range 5 {
		_, err := s.RedeemGrant(ctx(t), "ren", t0.Add(time.Minute))
		must(t, err)
	}
	got, err := s.GetGrant(ctx(t), tn.ID, rn.ID)
	must(t, err)
	if got.Status != store.GrantActive || got.DownloadsUsed != 5 || got.Remaining() != -1 {
		t.Fatalf("unlimited grant = %+v", got)
	}
	late := t0.Add(2 * time.Hour)
	_, err = s.RedeemGrant(ctx(t), "ren", late)
	wantCode(t, err, store.EGRANTEXPIRED)
	if got.EffectiveStatus(late) != store.GrantExpired {
		t.Fatal("EffectiveStatus ignores time")
	}
	_, err = s.RenewGrant(ctx(t), other.ID, rn.ID, late.Add(time.Hour), late)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.RenewGrant(ctx(t), tn.ID, rn.ID, late.Add(-time.Minute), late)
	wantCode(t, err, store.EINVALID)
	renewed, err := s.RenewGrant(ctx(t), tn.ID, rn.ID, late.Add(time.Hour), late)
	must(t, err)
	if renewed.Status != store.GrantActive {
		t.Fatalf("renewed = %+v", renewed)
	}
	sameTime(t, "renewed expiry", renewed.AccessExpiresAt, late.Add(time.Hour))
	_, err = s.RedeemGrant(ctx(t), "ren", late.Add(time.Minute))
	must(t, err)
	// An expired-by-worker grant renews too.
	_, err = s.ExpireGrants(ctx(t), late.Add(2*time.Hour), 10)
	must(t, err)
	got, err = s.GetGrant(ctx(t), tn.ID, rn.ID)
	must(t, err)
	if got.Status != store.GrantExpired {
		t.Fatalf("status after ExpireGrants = %s", got.Status)
	}
	renewed, err = s.RenewGrant(ctx(t), tn.ID, rn.ID, late.Add(5*time.Hour), late.Add(2*time.Hour))
	must(t, err)
	if renewed.Status != store.GrantActive {
		t.Fatalf("renewed after expiry = %s", renewed.Status)
	}
	// A one-time grant is not renewable.
	once := grant(t, s, tn.ID, a.ID, store.GrantOneTime, 0, "once")
	_, err = s.RenewGrant(ctx(t), tn.ID, once.ID, t0.Add(5*time.Hour), t0)
	wantCode(t, err, store.ECONFLICT)
}

func testGrantsRevokeAndExpire(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a")
	g := grant(t, s, tn.ID, a.ID, store.GrantLimited, 5, "rev")
	_, _, err := s.RevokeGrant(ctx(t), other.ID, g.ID, t0)
	wantCode(t, err, store.ENOTFOUND)
	r, changed, err := s.RevokeGrant(ctx(t), tn.ID, g.ID, t0.Add(time.Minute))
	must(t, err)
	if !changed || r.Status != store.GrantRevoked {
		t.Fatalf("revoke = %+v, %v", r, changed)
	}
	sameTime(t, "RevokedAt", r.RevokedAt, t0.Add(time.Minute))
	_, changed, err = s.RevokeGrant(ctx(t), tn.ID, g.ID, t0.Add(2*time.Minute))
	must(t, err)
	if changed {
		t.Fatal("second revoke reported a change")
	}
	_, err = s.RedeemGrant(ctx(t), "rev", t0.Add(3*time.Minute))
	wantCode(t, err, store.EGRANTREVOKED)
	_, err = s.RenewGrant(ctx(t), tn.ID, g.ID, t0.Add(5*time.Hour), t0)
	wantCode(t, err, store.ECONFLICT)

	// A consumed grant can still be revoked (its signed URLs must stop).
	c := grant(t, s, tn.ID, a.ID, store.GrantOneTime, 0, "cons")
	_, err = s.RedeemGrant(ctx(t), "cons", t0)
	must(t, err)
	rc, changed, err := s.RevokeGrant(ctx(t), tn.ID, c.ID, t0)
	must(t, err)
	if !changed {
		t.Fatal("consumed grant not revocable")
	}
	// It stays consumed; RevokedAt says it was revoked.
	if rc.Status != store.GrantConsumed {
		t.Fatalf("revoked consumed grant has status %s, want consumed", rc.Status)
	}
	sameTime(t, "RevokedAt of a consumed grant", rc.RevokedAt, t0)
	if _, changed, err = s.RevokeGrant(ctx(t), tn.ID, c.ID, t0.Add(time.Minute)); err != nil || changed {
		t.Fatalf("second revoke of a consumed grant: changed %v, %v", changed, err)
	}

	// Expiry: at request time, and by the worker.
	e1 := grant(t, s, tn.ID, a.ID, store.GrantLimited, 5, "exp1")
	e2 := &store.Grant{TenantID: other.ID, AssetID: asset(t, s, other.ID, "o").ID, Policy: store.GrantOneTime,
		TokenHash: "exp2", AccessExpiresAt: t0.Add(30 * time.Minute)}
	must(t, s.CreateGrant(ctx(t), e2))
	_, err = s.RedeemGrant(ctx(t), "exp1", t0.Add(time.Hour))
	wantCode(t, err, store.EGRANTEXPIRED)
	due, err := s.ExpireGrants(ctx(t), t0.Add(time.Hour), 10)
	must(t, err)
	var ids []string
	for _, g := range due {
		if g.Status != store.GrantExpired {
			t.Fatalf("returned grant status %s", g.Status)
		}
		ids = append(ids, g.ID)
	}
	// Only active grants due by then, earliest expiry first; revoked ones
	// are left alone.
	if len(ids) != 2 || ids[0] != e2.ID || ids[1] != e1.ID {
		t.Fatalf("ExpireGrants = %v, want [%s %s]", ids, e2.ID, e1.ID)
	}
	due, err = s.ExpireGrants(ctx(t), t0.Add(time.Hour), 10)
	must(t, err)
	if len(due) != 0 {
		t.Fatalf("second ExpireGrants returned %d", len(due))
	}
	_, err = s.RedeemGrant(ctx(t), "exp2", t0)
	wantCode(t, err, store.EGRANTEXPIRED)

	// An expired grant stays expired when revoked.
	re, changed, err := s.RevokeGrant(ctx(t), tn.ID, e1.ID, t0.Add(2*time.Hour))
	must(t, err)
	if !changed || re.Status != store.GrantExpired || re.RevokedAt.IsZero() {
		t.Fatalf("revoke of an expired grant = %+v, %v", re, changed)
	}

	// A renewable grant past its expiry keeps its status when revoked, and
	// can no longer be renewed.
	rn := &store.Grant{TenantID: tn.ID, AssetID: a.ID, Policy: store.GrantRenewable, TokenHash: "renew-rev", AccessExpiresAt: t0.Add(3 * time.Hour), CreatedAt: t0}
	must(t, s.CreateGrant(ctx(t), rn))
	rr, changed, err := s.RevokeGrant(ctx(t), tn.ID, rn.ID, t0.Add(4*time.Hour))
	must(t, err)
	if !changed || rr.Status != store.GrantActive || rr.RevokedAt.IsZero() {
		t.Fatalf("revoke of an expired renewable grant = %+v, %v", rr, changed)
	}
	_, err = s.RenewGrant(ctx(t), tn.ID, rn.ID, t0.Add(9*time.Hour), t0.Add(5*time.Hour))
	wantCode(t, err, store.ECONFLICT)
}

func testGrantsList(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a")
	b := asset(t, s, tn.ID, "b")
	g1 := grant(t, s, tn.ID, a.ID, store.GrantOneTime, 0, "l1")
	g2 := grant(t, s, tn.ID, b.ID, store.GrantOneTime, 0, "l2")
	g3 := grant(t, s, tn.ID, a.ID, store.GrantOneTime, 0, "l3")
	grant(t, s, other.ID, asset(t, s, other.ID, "o").ID, store.GrantOneTime, 0, "l4")
	list, next, err := s.ListGrants(ctx(t), tn.ID, store.GrantFilter{AssetID: a.ID})
	must(t, err)
	if len(list) != 2 || list[0].ID != g1.ID || list[1].ID != g3.ID || next != "" {
		t.Fatalf("ListGrants(asset a) = %v", list)
	}
	list, next, err = s.ListGrants(ctx(t), tn.ID, store.GrantFilter{Page: store.Page{Limit: 2}})
	must(t, err)
	if len(list) != 2 || list[1].ID != g2.ID || next == "" {
		t.Fatalf("first page = %v, %q", list, next)
	}
	list, next, err = s.ListGrants(ctx(t), tn.ID, store.GrantFilter{Page: store.Page{After: next, Limit: 2}})
	must(t, err)
	if len(list) != 1 || list[0].ID != g3.ID || next != "" {
		t.Fatalf("second page = %v, %q", list, next)
	}
	_, err = s.GetGrant(ctx(t), other.ID, g1.ID)
	wantCode(t, err, store.ENOTFOUND)
}
