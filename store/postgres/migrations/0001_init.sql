-- haul metadata schema for PostgreSQL, version 1. It mirrors the SQLite
-- schema column for column: times are Unix microseconds (NULL: unset), JSON
-- values are TEXT, booleans are 0/1, so both backends share their row
-- handling and `haul admin migrate-store` copies rows as they are.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants(id),
	name         TEXT NOT NULL,
	scopes       TEXT NOT NULL,
	hash         TEXT NOT NULL UNIQUE,
	prefix       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id, id);

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	secret     BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT
);

CREATE TABLE assets (
	id                   TEXT PRIMARY KEY,
	tenant_id            TEXT NOT NULL REFERENCES tenants(id),
	title                TEXT NOT NULL,
	filename             TEXT NOT NULL,
	content_type         TEXT NOT NULL,
	tags                 TEXT NOT NULL,
	rights               TEXT NOT NULL,
	state                TEXT NOT NULL,
	state_reason         TEXT NOT NULL,
	size                 BIGINT NOT NULL,
	checksum             TEXT NOT NULL,
	blob_key             TEXT NOT NULL,
	media                TEXT,
	legal_hold           BIGINT NOT NULL,
	retention_expires_at BIGINT,
	deleted_at           BIGINT,
	purged_at            BIGINT,
	created_at           BIGINT NOT NULL,
	updated_at           BIGINT NOT NULL
);
CREATE INDEX assets_tenant ON assets(tenant_id, id);
CREATE INDEX assets_retention ON assets(retention_expires_at) WHERE retention_expires_at IS NOT NULL;
CREATE INDEX assets_deleted ON assets(deleted_at) WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX assets_blob ON assets(blob_key) WHERE blob_key <> '';

CREATE TABLE asset_tags (
	tenant_id TEXT NOT NULL,
	tag       TEXT NOT NULL,
	asset_id  TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
	PRIMARY KEY (tenant_id, tag, asset_id)
);
CREATE INDEX asset_tags_asset ON asset_tags(asset_id);

CREATE TABLE renditions (
	id             TEXT PRIMARY KEY,
	tenant_id      TEXT NOT NULL,
	asset_id       TEXT NOT NULL REFERENCES assets(id),
	format         TEXT NOT NULL,
	preset_version BIGINT NOT NULL,
	blob_key       TEXT NOT NULL,
	size           BIGINT NOT NULL,
	checksum       TEXT NOT NULL,
	content_type   TEXT NOT NULL,
	metadata       TEXT,
	created_at     BIGINT NOT NULL,
	last_used_at   BIGINT NOT NULL,
	UNIQUE (asset_id, format, preset_version)
);
CREATE INDEX renditions_blob ON renditions(blob_key);
CREATE INDEX renditions_last_used ON renditions(last_used_at);

CREATE TABLE jobs (
	id               TEXT PRIMARY KEY,
	tenant_id        TEXT NOT NULL,
	asset_id         TEXT NOT NULL REFERENCES assets(id),
	format           TEXT NOT NULL,
	preset_version   BIGINT NOT NULL,
	status           TEXT NOT NULL,
	progress         DOUBLE PRECISION NOT NULL,
	error            TEXT NOT NULL,
	attempts         BIGINT NOT NULL,
	lease_owner      TEXT NOT NULL,
	lease_expires_at BIGINT,
	heartbeat_at     BIGINT,
	rendition_id     TEXT NOT NULL,
	-- dedupe_key is tenant/asset/format/version while the job stands for its
	-- rendition (queued, processing, or succeeded with the rendition kept);
	-- NULL otherwise. Its uniqueness makes CreateJob atomic.
	dedupe_key       TEXT UNIQUE,
	created_at       BIGINT NOT NULL,
	started_at       BIGINT,
	finished_at      BIGINT,
	updated_at       BIGINT NOT NULL
);
CREATE INDEX jobs_open ON jobs(id) WHERE status IN ('queued', 'processing');
CREATE INDEX jobs_asset ON jobs(asset_id, id);
CREATE INDEX jobs_rendition ON jobs(rendition_id) WHERE rendition_id <> '';
CREATE INDEX jobs_recent ON jobs(format, finished_at) WHERE status = 'succeeded';

CREATE TABLE exports (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants(id),
	name         TEXT NOT NULL,
	format       TEXT NOT NULL,
	status       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	completed_at BIGINT
);
CREATE INDEX exports_tenant ON exports(tenant_id, id);

CREATE TABLE export_items (
	export_id      TEXT NOT NULL REFERENCES exports(id) ON DELETE CASCADE,
	position       BIGINT NOT NULL,
	asset_id       TEXT NOT NULL REFERENCES assets(id),
	format         TEXT NOT NULL,
	preset_version BIGINT NOT NULL,
	status         TEXT NOT NULL,
	job_id         TEXT NOT NULL,
	error          TEXT NOT NULL,
	updated_at     BIGINT NOT NULL,
	PRIMARY KEY (export_id, position)
);
CREATE INDEX export_items_job ON export_items(job_id) WHERE job_id <> '';

CREATE TABLE grants (
	id               TEXT PRIMARY KEY,
	tenant_id        TEXT NOT NULL,
	asset_id         TEXT NOT NULL REFERENCES assets(id),
	policy           TEXT NOT NULL,
	max_downloads    BIGINT NOT NULL,
	downloads_used   BIGINT NOT NULL,
	token_hash       TEXT NOT NULL UNIQUE,
	access_expires_at BIGINT NOT NULL,
	format           TEXT NOT NULL,
	recipient        TEXT NOT NULL,
	status           TEXT NOT NULL,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	last_accessed_at BIGINT,
	revoked_at       BIGINT
);
CREATE INDEX grants_tenant ON grants(tenant_id, id);
CREATE INDEX grants_asset ON grants(asset_id, id);
CREATE INDEX grants_expiry ON grants(access_expires_at) WHERE status = 'active';

CREATE TABLE events (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	type       TEXT NOT NULL,
	data       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX events_tenant ON events(tenant_id, id);
CREATE INDEX events_type ON events(tenant_id, type, id);
CREATE INDEX events_created ON events(tenant_id, created_at);

CREATE TABLE webhooks (
	id                   TEXT PRIMARY KEY,
	tenant_id            TEXT NOT NULL REFERENCES tenants(id),
	url                  TEXT NOT NULL,
	events               TEXT NOT NULL,
	secret               TEXT NOT NULL,
	disabled             BIGINT NOT NULL,
	disabled_reason      TEXT NOT NULL,
	consecutive_failures BIGINT NOT NULL,
	last_success_at      BIGINT,
	last_failure_at      BIGINT,
	created_at           BIGINT NOT NULL,
	updated_at           BIGINT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks(tenant_id, id);

CREATE TABLE deliveries (
	id               TEXT PRIMARY KEY,
	tenant_id        TEXT NOT NULL,
	endpoint_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
	event_id         TEXT NOT NULL REFERENCES events(id),
	status           TEXT NOT NULL,
	attempts         BIGINT NOT NULL,
	next_attempt_at  BIGINT NOT NULL,
	lease_owner      TEXT NOT NULL,
	lease_expires_at BIGINT,
	last_error       TEXT NOT NULL,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	delivered_at     BIGINT
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, id) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id);
CREATE INDEX deliveries_status ON deliveries(status);

CREATE TABLE delivery_attempts (
	id          TEXT PRIMARY KEY,
	tenant_id   TEXT NOT NULL,
	endpoint_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
	delivery_id TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	event_type  TEXT NOT NULL,
	attempt     BIGINT NOT NULL,
	status_code BIGINT NOT NULL,
	success     BIGINT NOT NULL,
	latency_ms  BIGINT NOT NULL,
	error       TEXT NOT NULL,
	response    TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE INDEX delivery_attempts_endpoint ON delivery_attempts(endpoint_id, id);

CREATE TABLE idempotency_keys (
	tenant_id        TEXT NOT NULL,
	key              TEXT NOT NULL,
	fingerprint      TEXT NOT NULL,
	state            TEXT NOT NULL,
	response_status  BIGINT NOT NULL,
	response_headers TEXT NOT NULL,
	response_body    BYTEA,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	expires_at       BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);

CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);

CREATE TABLE rate_buckets (
	key TEXT PRIMARY KEY,
	tat BIGINT NOT NULL
);

-- event_clock holds the newest event ID. AppendEvent locks and advances
-- it, so event IDs follow commit order across replicas (a reader paging
-- with ?after= never misses an event committed later).
CREATE TABLE event_clock (
	singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
	last_id   TEXT NOT NULL
);
INSERT INTO event_clock (last_id) VALUES ('');
