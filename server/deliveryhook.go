package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/haulhq/haul/store"
)

// EventDelivery is the audit-log type of one /dl response (never sent to
// webhooks).
const EventDelivery = "delivery"

// StoreDeliveryHook is the default DeliveryHook: it refuses URLs of
// revoked grants (consumed or expired grants keep serving the URLs they
// issued until those expire, so interrupted transfers resume) and records
// each delivery in the audit log. Records are written in batches by a
// background writer so delivery never waits for the database; when the
// queue is full a record is dropped and logged.
type StoreDeliveryHook struct {
	st    store.Store
	log   *slog.Logger
	queue chan Delivery
	done  chan struct{}
	once  sync.Once
}

// NewStoreDeliveryHook starts the hook's writer; Close stops it after
// writing what is queued.
func NewStoreDeliveryHook(st store.Store, log *slog.Logger) *StoreDeliveryHook {
	if log == nil {
		log = slog.Default()
	}
	h := &StoreDeliveryHook{st: st, log: log, queue: make(chan Delivery, 4096), done: make(chan struct{})}
	go h.writer()
	return h
}

// CheckGrant implements DeliveryHook.
func (h *StoreDeliveryHook) CheckGrant(ctx context.Context, tenantID, grantID string) error {
	g, err := h.st.GetGrant(ctx, tenantID, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(CodeGone, "the grant this URL was issued through no longer exists")
	}
	if err != nil {
		return err
	}
	if g.Status == store.GrantRevoked {
		return Errorf(CodeGrantRevoked, "the grant this URL was issued through was revoked")
	}
	return nil
}

// Delivered implements DeliveryHook.
func (h *StoreDeliveryHook) Delivered(ctx context.Context, d Delivery) {
	select {
	case h.queue <- d:
	default:
		h.log.Warn("audit queue full: delivery not recorded", "asset", d.AssetID, "ip", d.ClientIP)
	}
}

// Close writes the queued records and stops the writer.
func (h *StoreDeliveryHook) Close() error {
	h.once.Do(func() { close(h.queue) })
	<-h.done
	return nil
}

type deliveryData struct {
	AssetID  string    `json:"asset_id"`
	Format   string    `json:"format"`
	GrantID  string    `json:"grant_id,omitempty"`
	ClientIP string    `json:"client_ip"`
	Status   int       `json:"status"`
	Bytes    int64     `json:"bytes"`
	Size     int64     `json:"size"`
	Range    string    `json:"range,omitempty"`
	Complete bool      `json:"complete"`
	At       time.Time `json:"at"`
}

func (h *StoreDeliveryHook) writer() {
	defer close(h.done)
	batch := make([]Delivery, 0, 256)
	for d := range h.queue {
		batch = append(batch[:0], d)
	more:
		for len(batch) < cap(batch) {
			select {
			case d, ok := <-h.queue:
				if !ok {
					break more
				}
				batch = append(batch, d)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := h.st.WithTx(ctx, func(tx store.Tx) error {
			for _, d := range batch {
				data := deliveryData{AssetID: d.AssetID, Format: d.Format, GrantID: d.GrantID, ClientIP: d.ClientIP, Status: d.Status, Bytes: d.Bytes, Size: d.Size, Range: d.Range, Complete: d.Complete, At: d.At.UTC()}
				if err := appendEvent(ctx, tx, d.TenantID, EventDelivery, data); err != nil {
					return err
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			h.log.Error("record deliveries in the audit log", "n", len(batch), "err", err)
		}
	}
}
