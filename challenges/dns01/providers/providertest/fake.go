package providertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

// FakeOptions configure StartFake.
type FakeOptions struct {
	// Spec is the OpenAPI 3 document (YAML or JSON, the relevant part of
	// the provider's published one, committed under testdata) that every
	// request and response is validated against.
	Spec string
	// BasePath is the API's path prefix on the fake, e.g. "/client/v4";
	// the document's paths are relative to it.
	BasePath string
	// Handler implements the API (its paths include BasePath).
	Handler http.Handler
	// UndocumentedStatus allows answers whose status the document does not
	// list (most documents list no 429).
	UndocumentedStatus bool
}

// Fake is a provider's API fake on loopback (plain HTTP on 127.0.0.1,
// which providers.Endpoint accepts). Every request and answer is checked
// against the OpenAPI document; a violation fails the test.
type Fake struct {
	URL string // http://127.0.0.1:PORT + BasePath

	t      testing.TB
	opts   FakeOptions
	router routers.Router

	mu         sync.Mutex
	violations []string
	counts     map[string]int // "METHOD /documented/{path}" → requests
	inject     []Injected
}

// Injected is an answer the fake gives instead of calling the handler.
type Injected struct {
	Status int
	Header http.Header
	Body   string
	// Match, when set, selects the requests this answer is for
	// ("METHOD /path/template"); "" matches any request.
	Match string
}

// LoadSpec reads and validates an OpenAPI document.
func LoadSpec(t testing.TB, path string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true // split documents (DigitalOcean) refer to files beside them
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load OpenAPI document %s: %v", path, err)
	}
	if err := doc.Validate(loader.Context, openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("OpenAPI document %s is invalid: %v", path, err)
	}
	return doc
}

// SpecFile writes doc (an OpenAPI 3 document as Go values, converted at
// test time from a provider's own description format) as JSON to a file
// named name in a temporary directory, for FakeOptions.Spec.
func SpecFile(t testing.TB, name string, doc any) string {
	t.Helper()
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ConvertedSpec writes an OpenAPI 3.0 document made of paths and
// component schemas converted at test time from a provider's own
// description format (see SpecFile) and returns its path.
func ConvertedSpec(t testing.TB, name, title, version string, paths, schemas any) string {
	t.Helper()
	return SpecFile(t, name, map[string]any{
		"openapi": "3.0.3", "info": map[string]any{"title": title, "version": version},
		"paths": paths, "components": map[string]any{"schemas": schemas},
	})
}

// StartFake serves opts.Handler on 127.0.0.1 behind the validator until
// the test ends.
func StartFake(t testing.TB, opts FakeOptions) *Fake {
	t.Helper()
	doc := LoadSpec(t, opts.Spec)
	doc.Servers = nil // paths are matched after BasePath is removed
	router, err := legacyrouter.NewRouter(doc, openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatalf("router for %s: %v", opts.Spec, err)
	}
	f := &Fake{t: t, opts: opts, router: router, counts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + opts.BasePath
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, v := range f.violations {
			t.Errorf("fake API (%s): %s", opts.Spec, v)
		}
	})
	return f
}

func (f *Fake) violate(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

// Violations returns the validation failures so far (tests that expect
// none may check early; all are reported when the test ends).
func (f *Fake) Violations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violations)
}

// Count returns how many requests matched the documented operation
// "METHOD /path/{template}".
func (f *Fake) Count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// Inject queues answers given, in order, instead of the handler's to the
// next matching requests (rate limiting, errors). The answers are
// validated like any other.
func (f *Fake) Inject(a ...Injected) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = append(f.inject, a...)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !strings.HasPrefix(r.URL.Path, f.opts.BasePath) {
		f.violate("%s %s: outside the base path %s", r.Method, r.URL.Path, f.opts.BasePath)
		http.NotFound(w, r)
		return
	}
	vr := r.Clone(r.Context())
	vr.URL.Path = strings.TrimPrefix(r.URL.Path, f.opts.BasePath)
	vr.URL.RawPath = ""
	vr.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := f.router.FindRoute(vr)
	if err != nil {
		f.violate("%s %s: not an operation of the document: %v", r.Method, vr.URL.Path, err)
		http.NotFound(w, r)
		return
	}
	op := r.Method + " " + route.Path
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true,
		IncludeResponseStatus: !f.opts.UndocumentedStatus}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		f.violate("request %s %s: %v", r.Method, r.URL.RequestURI(), err)
	}

	rec := httptest.NewRecorder()
	f.mu.Lock()
	f.counts[op]++
	var inj *Injected
	for i, a := range f.inject {
		if a.Match == "" || a.Match == op {
			inj = &a
			f.inject = slices.Delete(f.inject, i, i+1)
			break
		}
	}
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if inj != nil {
		for k, v := range inj.Header {
			rec.Header()[k] = v
		}
		if rec.Header().Get("Content-Type") == "" {
			rec.Header().Set("Content-Type", "application/json")
		}
		rec.WriteHeader(inj.Status)
		_, _ = io.WriteString(rec, inj.Body)
	} else {
		f.opts.Handler.ServeHTTP(rec, r)
	}

	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Options: opts}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		f.violate("answer %d to %s %s: %v", rec.Code, r.Method, r.URL.RequestURI(), err)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
