// The HTTP side: the catalog's public product reads, health, readiness and metrics.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	skuPath   = regexp.MustCompile(`^/api/v1/products/([A-Z0-9][A-Z0-9-]{2,31})/$`)
	requestID = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)
	titles    = map[int]string{400: "Invalid request", 401: "Not authenticated", 404: "Not found",
		405: "Method not allowed", 500: "Internal server error", 503: "Temporarily unavailable"}
)

type problem struct {
	status       int
	code, detail string
	extra        object
	django       bool // the body as Django's JsonResponse writes it
}

func (p *problem) Error() string { return p.detail }

type server struct {
	db        *sql.DB
	verifier  *tokenVerifier
	readiness func(ctx context.Context) (bool, object)
	metrics   http.Handler
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

func send(w http.ResponseWriter, status int, body any, contentType string, style jsonStyle) {
	text := style.encode(body)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(status)
	w.Write(text)
}

func sendJSON(w http.ResponseWriter, status int, body any) {
	send(w, status, body, "application/json", drfJSON)
}

func baseURL(r *http.Request, path string) string {
	proto := "http"
	forwarded, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if strings.TrimSpace(forwarded) == "https" {
		proto = "https"
	}
	host := r.Header.Get("X-Forwarded-Host")
	if host == "" {
		host = r.Host
	}
	if host == "" {
		host = "localhost"
	}
	return proto + "://" + host + path
}

func (s *server) productsPage(r *http.Request, raw string, c *caller) (object, error) {
	params := lastValues(parseQuery(raw))
	f, fieldErrors := filtersParse(params)
	if fieldErrors != nil {
		var details []string
		var items []object
		for _, e := range fieldErrors {
			details = append(details, e.field+": "+e.message)
			items = append(items, object{{"field", e.field}, {"code", e.code}, {"message", e.message}})
		}
		return nil, &problem{status: 400, code: "validation_error", detail: strings.Join(details, "; "),
			extra: object{{"errors", items}}}
	}
	size := pageSize(params)
	rawPage := params["page"]
	if rawPage == "" {
		rawPage = "1"
	}
	number, ok := pythonInt(rawPage)
	if !ok {
		return nil, &problem{status: 404, code: "not_found", detail: "Invalid page."}
	}
	q := productQueryFor(f, c != nil && c.isStaff)
	count, err := productCount(r.Context(), s.db, q)
	if err != nil {
		return nil, err
	}
	pages := (count + size - 1) / size
	if pages < 1 {
		pages = 1
	}
	if number < 1 || number > pages {
		return nil, &problem{status: 404, code: "not_found", detail: "Invalid page."}
	}
	rows, err := productPage(r.Context(), s.db, q, size, (number-1)*size)
	if err != nil {
		return nil, err
	}
	base := baseURL(r, "/api/v1/products/")
	var next, previous any
	if number < pages {
		next = pageURL(base, raw, number+1)
	}
	if number > 1 {
		previous = pageURL(base, raw, number-1) // page 1's link drops the parameter (0 below)
		if number == 2 {
			previous = pageURL(base, raw, 0)
		}
	}
	return object{{"count", count}, {"next", next}, {"previous", previous}, {"results", rows}}, nil
}

func (s *server) route(w http.ResponseWriter, r *http.Request, path, raw string) error {
	switch path {
	case "/healthz":
		sendJSON(w, 200, object{{"status", "ok"}})
		return nil
	case "/readyz":
		ok, checks := s.readiness(r.Context())
		status, word := 200, "ready"
		if !ok {
			status, word = 503, "unavailable"
		}
		sendJSON(w, status, object{{"status", word}, {"checks", checks}})
		return nil
	case "/metrics":
		s.metrics.ServeHTTP(w, r)
		return nil
	}
	detail := skuPath.FindStringSubmatch(path)
	if path != "/api/v1/products/" && detail == nil {
		return &problem{status: 404, code: "not_found", detail: fmt.Sprintf("No API endpoint at %s.", path), django: true}
	}
	if r.Method != "GET" && r.Method != "HEAD" {
		return &problem{status: 405, code: "method_not_allowed", detail: fmt.Sprintf(`Method "%s" not allowed.`, r.Method)}
	}
	c, authProblem := s.verifier.callerFrom(r.Header.Get("Authorization"))
	if authProblem != nil {
		if authProblem.status == 503 { // not a bad token: try again (no challenge, as DRF)
			w.Header().Set("Retry-After", strconv.Itoa(authProblem.retryAfter))
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
		}
		return &problem{status: authProblem.status, code: authProblem.code, detail: authProblem.message}
	}
	staff := c != nil && c.isStaff
	if detail != nil {
		product, err := productGet(r.Context(), s.db, detail[1], staff)
		if err != nil {
			return err
		}
		if product == nil {
			return &problem{status: 404, code: "not_found", detail: "Not found."}
		}
		sendJSON(w, 200, product)
		return nil
	}
	page, err := s.productsPage(r, raw, c)
	if err != nil {
		return err
	}
	sendJSON(w, 200, page)
	return nil
}

// routeSafely turns a panic into an error: the caller answers it as a 500 problem.
func (s *server) routeSafely(w http.ResponseWriter, r *http.Request, path, raw string) (err error) {
	defer func() {
		if caught := recover(); caught != nil {
			err = fmt.Errorf("panic: %v", caught)
		}
	}()
	return s.route(w, r, path, raw)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func routeName(path string) string {
	switch {
	case path == "/api/v1/products/":
		return "list"
	case strings.HasPrefix(path, "/api/v1/products/"):
		return "detail"
	case path == "/healthz" || path == "/readyz" || path == "/metrics":
		return path
	}
	return "unmatched" // not the raw path: a label per unknown URL would grow without bound
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	id := r.Header.Get("X-Request-ID")
	if !requestID.MatchString(id) {
		id = newRequestID()
	}
	w.Header().Set("X-Request-ID", id)
	path, raw, _ := strings.Cut(r.RequestURI, "?")
	// A malformed escape stays as sent: it matches no route.
	if decoded, err := url.PathUnescape(path); err == nil && utf8.ValidString(decoded) {
		path = decoded
	}
	recorder := &statusRecorder{ResponseWriter: w, status: 200}
	if err := s.routeSafely(recorder, r, path, raw); err != nil {
		var p *problem
		if !errors.As(err, &p) {
			log.Printf(`{"event": "http.error", "error": %q, "path": %q}`, err.Error(), path)
			p = &problem{status: 500, code: "server_error", detail: "The server failed to handle the request; it was logged.", django: true}
		}
		title, known := titles[p.status]
		if !known {
			title = "Error"
		}
		body := append(object{{"type", "urn:problem:strangler:" + p.code}, {"title", title}, {"status", p.status},
			{"detail", p.detail}, {"code", p.code}, {"instance", path}, {"request_id", id}}, p.extra...)
		style := drfJSON
		if p.django {
			style = pythonJSON
		}
		send(recorder, p.status, body, "application/problem+json", style)
	}
	name := routeName(path)
	s.requests.WithLabelValues(r.Method, name, strconv.Itoa(recorder.status)).Inc()
	s.latency.WithLabelValues(name).Observe(time.Since(started).Seconds())
}

func newServer(db *sql.DB, verifier *tokenVerifier, registry *prometheus.Registry, readiness func(context.Context) (bool, object)) *server {
	s := &server{
		db: db, verifier: verifier, readiness: readiness,
		metrics: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}, []string{"route"}),
	}
	registry.MustRegister(s.requests, s.latency)
	return s
}
