package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus collectors, registered on a registry
// of their own (no global state, so tests can build many servers).
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	deliveredBytes prometheus.Counter
	rateLimited    *prometheus.CounterVec
	storeLatency   *prometheus.HistogramVec

	// observers caches the request counter and latency histogram of
	// each route, method and status seen (WithLabelValues hashes and
	// looks up the labels, and formats the status, on every call).
	observers sync.Map // requestLabels → *requestObservers
	storeOps  sync.Map // op → prometheus.Observer
}

type requestLabels struct {
	route, method string
	status        int
}

type requestObservers struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

func newMetrics(queueDepth func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "haul_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		deliveredBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "haul_delivered_bytes_total", Help: "Bytes of asset content sent by /dl delivery.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haul_rate_limited_total", Help: "Requests rejected with 429 by rate-limit class.",
		}, []string{"class"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "haul_store_operation_duration_seconds", Help: "Latency of metadata store operations.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.deliveredBytes, m.rateLimited, m.storeLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "haul_job_queue_depth", Help: "Jobs queued or processing.",
		}, queueDepth))
	}
	return m
}

func (m *metrics) observeRequest(route, method string, status int, d time.Duration) {
	if route == "unmatched" {
		// Any method string may arrive here: not worth caching.
		m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.latency.WithLabelValues(route, method).Observe(d.Seconds())
		return
	}
	key := requestLabels{route, method, status}
	o, ok := m.observers.Load(key)
	if !ok {
		o, _ = m.observers.LoadOrStore(key, &requestObservers{
			count:   m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
			latency: m.latency.WithLabelValues(route, method),
		})
	}
	obs := o.(*requestObservers)
	obs.count.Inc()
	obs.latency.Observe(d.Seconds())
}

// storeOp times one store operation: defer s.metrics.storeOp("get_asset")().
func (m *metrics) storeOp(op string) func() {
	start := time.Now()
	return func() { m.storeObserver(op).Observe(time.Since(start).Seconds()) }
}

func (m *metrics) storeObserver(op string) prometheus.Observer {
	if o, ok := m.storeOps.Load(op); ok {
		return o.(prometheus.Observer)
	}
	o, _ := m.storeOps.LoadOrStore(op, m.storeLatency.WithLabelValues(op))
	return o.(prometheus.Observer)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
