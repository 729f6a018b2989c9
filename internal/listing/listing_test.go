package listing_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/listing"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlite"
)

var base = time.Date(2026, time.May, 4, 10, 0, 0, 0, time.UTC)

// openStore returns a SQLite store holding n payments created one second
// apart (cs-000 oldest), every third one unknown and the others completed.
func openStore(t *testing.T, n int) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i := range n {
		add(t, st, fmt.Sprintf("cs-%03d", i), base.Add(time.Duration(i)*time.Second), i%3 == 0)
	}
	return st
}

func add(t *testing.T, st store.Store, id string, created time.Time, unknown bool) {
	t.Helper()
	p := payment.Payment{
		CheckoutSessionID: id, OrderID: "order-" + id,
		ChargeAmount: payment.Money{Amount: "14.00", CurrencyCode: "USD"},
		Outcome:      payment.Completing, CreateTime: created, UpdateTime: created, NextCheckTime: created.Add(time.Minute),
	}
	if _, _, err := st.CreateAttempt(t.Context(), p, "owner"); err != nil {
		t.Fatal(err)
	}
	tr := payment.Transition{Outcome: payment.Completed, Time: created}
	if unknown {
		tr = payment.Transition{Outcome: payment.Unknown, NextCheckTime: created.Add(time.Hour), Time: created}
	}
	if _, _, err := st.Transition(t.Context(), id, tr); err != nil {
		t.Fatal(err)
	}
}

func ids(ps []payment.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.CheckoutSessionID)
	}
	return out
}

// listAll pages through q and returns every ID, checking that only the
// last page is short.
func listAll(t *testing.T, svc *listing.Service, q listing.Query, between func(page int)) []string {
	t.Helper()
	var got []string
	for page := 0; ; page++ {
		p, err := svc.List(t.Context(), q)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		got = append(got, ids(p.Payments)...)
		if p.NextPageToken == "" {
			return got
		}
		if len(p.Payments) != q.PageSize {
			t.Fatalf("page %d holds %d payments and has a next page; want %d", page, len(p.Payments), q.PageSize)
		}
		q.PageToken = p.NextPageToken
		if between != nil {
			between(page)
		}
		if page > 1000 {
			t.Fatal("paging does not end")
		}
	}
}

func TestPagesAcrossInserts(t *testing.T) {
	t.Parallel()
	st := openStore(t, 20)
	svc := listing.New(st, nil)
	var want []string
	for i := 19; i >= 0; i-- {
		want = append(want, fmt.Sprintf("cs-%03d", i))
	}
	got := listAll(t, svc, listing.Query{PageSize: 3}, func(page int) {
		// Newer payments arrive while the operator pages.
		add(t, st, fmt.Sprintf("cs-new-%02d", page), base.Add(time.Hour+time.Duration(page)*time.Second), page%2 == 0)
	})
	if !slices.Equal(got, want) {
		t.Errorf("paged IDs = %v, want %v", got, want)
	}
}

func TestFilterAndPageSizes(t *testing.T) {
	t.Parallel()
	st := openStore(t, 30)
	svc := listing.New(st, nil)
	var unknown []string
	for i := 29; i >= 0; i-- {
		if i%3 == 0 {
			unknown = append(unknown, fmt.Sprintf("cs-%03d", i))
		}
	}
	tests := []struct {
		name string
		q    listing.Query
		want []string
	}{
		{"unknown_in_pages_of_4", listing.Query{Outcomes: []payment.Outcome{payment.Completing, payment.Unknown}, PageSize: 4}, unknown},
		{"exact_multiple", listing.Query{Outcomes: []payment.Outcome{payment.Unknown}, PageSize: 5}, unknown},
		{"range", listing.Query{Outcomes: []payment.Outcome{payment.Unknown}, CreatedFrom: base.Add(6 * time.Second), CreatedBefore: base.Add(15 * time.Second), PageSize: 1},
			[]string{"cs-012", "cs-009", "cs-006"}},
		{"default_size", listing.Query{Outcomes: []payment.Outcome{payment.Unknown}}, unknown},
		{"size_above_max", listing.Query{Outcomes: []payment.Outcome{payment.Unknown}, PageSize: 1 << 30}, unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := tt.q
			if q.PageSize == 0 || q.PageSize > listing.MaxPageSize {
				// One page: these sizes serve the default or the maximum.
				p, err := svc.List(t.Context(), q)
				if err != nil || p.NextPageToken != "" || !slices.Equal(ids(p.Payments), tt.want) {
					t.Errorf("List = %v, token %q, %v; want %v in one page", ids(p.Payments), p.NextPageToken, err, tt.want)
				}
				return
			}
			if got := listAll(t, svc, q, nil); !slices.Equal(got, tt.want) {
				t.Errorf("paged IDs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultAndMaxPageSize(t *testing.T) {
	t.Parallel()
	st := openStore(t, listing.MaxPageSize+2)
	svc := listing.New(st, nil)
	for _, tt := range []struct{ size, want int }{{0, listing.DefaultPageSize}, {listing.MaxPageSize + 1, listing.MaxPageSize}, {7, 7}} {
		p, err := svc.List(t.Context(), listing.Query{PageSize: tt.size})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Payments) != tt.want || p.NextPageToken == "" {
			t.Errorf("page_size %d: %d payments, token %q; want %d and a next page", tt.size, len(p.Payments), p.NextPageToken, tt.want)
		}
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	st := openStore(t, 10)
	svc := listing.New(st, nil)
	unknownOnly := listing.Query{Outcomes: []payment.Outcome{payment.Unknown}, PageSize: 1}
	first, err := svc.List(t.Context(), unknownOnly)
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: token %q, %v", first.NextPageToken, err)
	}
	tok := first.NextPageToken
	withToken := func(q listing.Query) listing.Query { q.PageToken = tok; return q }
	tests := []struct {
		name  string
		q     listing.Query
		field string
	}{
		{"negative_page_size", listing.Query{PageSize: -1}, "page_size"},
		{"invalid_outcome", listing.Query{Outcomes: []payment.Outcome{"settled"}}, "outcomes"},
		{"empty_range", listing.Query{CreatedFrom: base, CreatedBefore: base}, "create_time_start"},
		{"garbage_token", listing.Query{PageToken: "not a token!"}, "page_token"},
		{"truncated_token", listing.Query{Outcomes: unknownOnly.Outcomes, PageToken: tok[:10]}, "page_token"},
		{"token_without_its_filter", withToken(listing.Query{}), "page_token"},
		{"token_with_other_outcomes", withToken(listing.Query{Outcomes: []payment.Outcome{payment.Completed}}), "page_token"},
		{"token_with_a_start", withToken(listing.Query{Outcomes: unknownOnly.Outcomes, CreatedFrom: base}), "page_token"},
		{"token_with_an_end", withToken(listing.Query{Outcomes: unknownOnly.Outcomes, CreatedBefore: base.Add(time.Hour)}), "page_token"},
		{"token_with_operations_filter", withToken(listing.Query{Outcomes: unknownOnly.Outcomes, UnknownOperationsBefore: base}), "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := svc.List(t.Context(), tt.q)
			e, ok := completion.AsError(err)
			if !ok || e.Kind != completion.KindInvalid || e.Reason != completion.ReasonInvalidRequest || e.Field != tt.field {
				t.Fatalf("List = %v; want an INVALID_REQUEST error on %s", err, tt.field)
			}
		})
	}
	// The same filter with another page size, and the outcomes repeated or
	// reordered, continues the listing.
	for _, q := range []listing.Query{
		withToken(listing.Query{Outcomes: unknownOnly.Outcomes, PageSize: 50}),
		withToken(listing.Query{Outcomes: []payment.Outcome{payment.Unknown, payment.Unknown}, PageSize: 50}),
	} {
		p, err := svc.List(t.Context(), q)
		if err != nil {
			t.Fatalf("same filter: %v", err)
		}
		if got, want := ids(p.Payments), []string{"cs-006", "cs-003", "cs-000"}; !slices.Equal(got, want) {
			t.Errorf("same filter, page size 50: %v, want %v", got, want)
		}
	}
}

// failingStore is unreachable.
type failingStore struct{ err error }

func (f failingStore) List(context.Context, store.ListQuery) ([]payment.Payment, error) {
	return nil, f.err
}

func TestStoreErrors(t *testing.T) {
	t.Parallel()
	_, err := listing.New(failingStore{fmt.Errorf("list: %w", store.ErrUnavailable)}, nil).List(t.Context(), listing.Query{})
	if e, ok := completion.AsError(err); !ok || e.Kind != completion.KindUnavailable || e.Reason != completion.ReasonStoreUnavailable {
		t.Errorf("unreachable store: %v, want STORE_UNAVAILABLE", err)
	}
	_, err = listing.New(failingStore{context.DeadlineExceeded}, nil).List(t.Context(), listing.Query{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v, want it returned as is", err)
	}
}

// TestTamperedTokens changes every bit of a token in turn: each changed
// token is refused, whichever part (version, filter, position, MAC) the
// bit belongs to.
func TestTamperedTokens(t *testing.T) {
	t.Parallel()
	st := openStore(t, 10)
	svc := listing.New(st, nil)
	q := listing.Query{PageSize: 2}
	first, err := svc.List(t.Context(), q)
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: token %q, %v", first.NextPageToken, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(first.NextPageToken)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := range 8 {
			b := bytes.Clone(raw)
			b[i] ^= 1 << bit
			q.PageToken = base64.RawURLEncoding.EncodeToString(b)
			if p, err := svc.List(t.Context(), q); !isInvalidToken(err) {
				t.Fatalf("byte %d bit %d changed: %v, %v; want INVALID_REQUEST on page_token", i, bit, ids(p.Payments), err)
			}
		}
	}
	for _, b := range [][]byte{raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
		q.PageToken = base64.RawURLEncoding.EncodeToString(b)
		if _, err := svc.List(t.Context(), q); !isInvalidToken(err) {
			t.Errorf("token of %d bytes (issued %d): %v; want INVALID_REQUEST on page_token", len(b), len(raw), err)
		}
	}
}

// TestTokensAcrossReplicas: replicas sharing a database and a key continue
// each other's listings; a service with another key refuses them.
func TestTokensAcrossReplicas(t *testing.T) {
	t.Parallel()
	st := openStore(t, 5)
	key := bytes.Repeat([]byte{7}, 32)
	a, b := listing.New(st, key), listing.New(st, bytes.Clone(key))
	q := listing.Query{PageSize: 2}
	var got []string
	for i, svc := range []*listing.Service{a, b, a} {
		p, err := svc.List(t.Context(), q)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		got = append(got, ids(p.Payments)...)
		q.PageToken = p.NextPageToken
	}
	if want := []string{"cs-004", "cs-003", "cs-002", "cs-001", "cs-000"}; !slices.Equal(got, want) {
		t.Errorf("listed %v across replicas, want %v", got, want)
	}
	p, err := a.List(t.Context(), listing.Query{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	other := listing.New(st, bytes.Repeat([]byte{8}, 32))
	if _, err := other.List(t.Context(), listing.Query{PageSize: 2, PageToken: p.NextPageToken}); !isInvalidToken(err) {
		t.Errorf("token of another key: %v; want INVALID_REQUEST on page_token", err)
	}
}

func isInvalidToken(err error) bool {
	e, ok := completion.AsError(err)
	return ok && e.Kind == completion.KindInvalid && e.Reason == completion.ReasonInvalidRequest && e.Field == "page_token"
}

// FuzzPageToken: no token but one the service issued is accepted, and no
// token, however malformed, makes List fail other than with INVALID_REQUEST
// on page_token.
func FuzzPageToken(f *testing.F) {
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "p.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	for i := range 3 {
		created := base.Add(time.Duration(i) * time.Second)
		p := payment.Payment{
			CheckoutSessionID: fmt.Sprintf("cs-%03d", i), OrderID: fmt.Sprintf("order-%d", i),
			ChargeAmount: payment.Money{Amount: "14.00", CurrencyCode: "USD"},
			Outcome:      payment.Completing, CreateTime: created, UpdateTime: created, NextCheckTime: created.Add(time.Minute),
		}
		if _, _, err := st.CreateAttempt(context.Background(), p, "owner"); err != nil {
			f.Fatal(err)
		}
	}
	svc := listing.New(st, nil)
	first, err := svc.List(context.Background(), listing.Query{PageSize: 2})
	if err != nil || first.NextPageToken == "" {
		f.Fatalf("first page: token %q, %v", first.NextPageToken, err)
	}
	issued := first.NextPageToken
	f.Add(issued)
	f.Add("")
	f.Add("AQAAAAAAAAAAAAAAAAAAAABjcy0x")
	f.Add("////")
	f.Add(issued[:4] + "\n" + issued[4:])
	f.Add(issued[:len(issued)-1] + string(issued[len(issued)-1]^1))
	f.Fuzz(func(t *testing.T, token string) {
		_, err := svc.List(context.Background(), listing.Query{PageToken: token, PageSize: 2})
		switch {
		case token == "" || token == issued:
			if err != nil {
				t.Fatalf("token %q: %v", token, err)
			}
		case err == nil:
			t.Fatalf("token %q (not issued) accepted", token)
		case !isInvalidToken(err):
			t.Fatalf("token %q: %v", token, err)
		}
	})
}
