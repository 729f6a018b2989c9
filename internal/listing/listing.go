// Package listing lists stored payments for operators: newest first,
// filtered by outcome and creation time, in pages whose tokens are keyset
// positions (the creation time and ID of a page's last payment), so that
// paging is stable under inserts and a page costs the same however many
// payments are stored.
package listing

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paymentcompletion/paymentcompletion/internal/completion"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
	"github.com/paymentcompletion/paymentcompletion/internal/store"
)

// Page sizes (AIP-158): a request without one gets DefaultPageSize, and a
// larger one than MaxPageSize is served MaxPageSize.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Store is what listing needs of the store.
type Store interface {
	List(ctx context.Context, q store.ListQuery) ([]payment.Payment, error)
}

// Service lists payments.
type Service struct {
	store Store
	key   []byte
}

// New returns a Service reading st. key (at least 16 bytes) authenticates
// its page tokens: every replica serving one database needs the same key,
// so that a token issued by one is accepted by the others. An empty key is
// replaced by a random one, for a single process.
func New(st Store, key []byte) *Service {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	if len(key) < 16 {
		panic("listing: page token key shorter than 16 bytes")
	}
	return &Service{store: st, key: key}
}

// Query is one ListPayments call.
type Query struct {
	// Outcomes keeps payments with one of these outcomes; empty keeps all.
	Outcomes []payment.Outcome
	// CreatedFrom (inclusive) and CreatedBefore (exclusive) bound the
	// creation time; zero values leave that side open.
	CreatedFrom, CreatedBefore time.Time
	// PageSize is the most payments returned; 0 is DefaultPageSize.
	PageSize int
	// PageToken is a previous Page's NextPageToken, "" for the first page.
	PageToken string
	// UnknownOperationsBefore, when set, keeps the payments with an
	// operation still unknown that was recorded before it (the
	// operations past their budget; see store.ListQuery). Its presence,
	// not the time, which moves from page to page, is part of the filter.
	UnknownOperationsBefore time.Time
}

// Page is one page of a listing.
type Page struct {
	Payments []payment.Payment
	// NextPageToken continues the listing after Payments; "" after the
	// last page.
	NextPageToken string
}

// List returns the page of q. Errors are *completion.Error values
// (KindInvalid for a bad query or token, KindUnavailable for the store).
func (s *Service) List(ctx context.Context, q Query) (Page, error) {
	sq, err := s.storeQuery(q)
	if err != nil {
		return Page{}, err
	}
	size := sq.Limit
	sq.Limit++ // One more tells whether another page follows.
	ps, err := s.store.List(ctx, sq)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return Page{}, err
		}
		return Page{}, completion.NewError(completion.KindUnavailable, completion.ReasonStoreUnavailable,
			"the payment store is unavailable; retry the same call", err, nil)
	}
	if len(ps) <= size {
		return Page{Payments: ps}, nil
	}
	ps = ps[:size]
	last := ps[len(ps)-1]
	return Page{Payments: ps, NextPageToken: s.encodeToken(q.fingerprint(), last.CreateTime, last.CheckoutSessionID)}, nil
}

// storeQuery checks q and turns it into the store's query.
func (s *Service) storeQuery(q Query) (store.ListQuery, error) {
	sq := store.ListQuery{
		Outcomes:      q.Outcomes,
		CreatedFrom:   q.CreatedFrom,
		CreatedBefore: q.CreatedBefore,
		Limit:         q.PageSize,

		UnknownOperationsBefore: q.UnknownOperationsBefore,
	}
	switch {
	case q.PageSize < 0:
		return sq, invalid("page_size", "page_size must not be negative", nil)
	case q.PageSize == 0:
		sq.Limit = DefaultPageSize
	case q.PageSize > MaxPageSize:
		sq.Limit = MaxPageSize
	}
	for _, o := range q.Outcomes {
		if !o.Valid() {
			return sq, invalid("outcomes", "unknown outcome "+strconv.Quote(string(o)), nil)
		}
	}
	if !q.CreatedFrom.IsZero() && !q.CreatedBefore.IsZero() && !q.CreatedFrom.Before(q.CreatedBefore) {
		return sq, invalid("create_time_start", "create_time_start must be before create_time_end", nil)
	}
	if q.PageToken != "" {
		pos, err := s.decodeToken(q.PageToken, q.fingerprint())
		if err != nil {
			return sq, err
		}
		sq.After = &pos
	}
	return sq, nil
}

// fingerprint identifies the filter of q (not its page size, which may
// change between pages): the outcomes as a set and the creation range, at
// the store's microsecond precision.
func (q Query) fingerprint() [8]byte {
	names := make([]string, 0, len(q.Outcomes))
	for _, o := range q.Outcomes {
		if !slices.Contains(names, string(o)) {
			names = append(names, string(o))
		}
	}
	slices.Sort(names)
	micros := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return strconv.FormatInt(t.UnixMicro(), 10)
	}
	filter := tokenVersionName + "\x00" + strings.Join(names, ",") + "\x00" + micros(q.CreatedFrom) + "\x00" + micros(q.CreatedBefore)
	if !q.UnknownOperationsBefore.IsZero() {
		filter += "\x00operations-need-attention"
	}
	h := sha256.Sum256([]byte(filter))
	return [8]byte(h[:8])
}

// Page tokens are unpadded base64url of: a version byte, the 8-byte filter
// fingerprint, the position's creation time in Unix microseconds (8 bytes,
// big-endian), its checkout session ID, and a MAC of all that (HMAC-SHA256
// with the service's key, the first 16 bytes). They are opaque to callers:
// a token changed in any byte, or made up, is refused before any part of
// it is read.
const (
	tokenVersion     = 2
	tokenVersionName = "listing-token-v2"
	tokenHeader      = 1 + 8 + 8
	tokenMACSize     = 16
	maxTokenID       = 256
)

func (s *Service) encodeToken(fp [8]byte, created time.Time, id string) string {
	b := make([]byte, 0, tokenHeader+len(id)+tokenMACSize)
	b = append(b, tokenVersion)
	b = append(b, fp[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(created.UnixMicro()))
	b = append(b, id...)
	b = append(b, s.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) mac(body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(body)
	return m.Sum(nil)[:tokenMACSize]
}

func (s *Service) decodeToken(token string, fp [8]byte) (store.ListPosition, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	// Decoding skips line breaks and the unused bits of the last
	// character: only the issued spelling of the bytes is the token.
	if err == nil && base64.RawURLEncoding.EncodeToString(b) != token {
		err = errors.New("not in its issued form")
	}
	if err != nil || len(b) <= tokenHeader+tokenMACSize || len(b) > tokenHeader+maxTokenID+tokenMACSize ||
		!hmac.Equal(b[len(b)-tokenMACSize:], s.mac(b[:len(b)-tokenMACSize])) || b[0] != tokenVersion {
		// Also a token of another key: a replica with another Amazon Pay
		// key, or an earlier version of this service.
		return store.ListPosition{}, invalid("page_token", "page_token is not a token this service issued; start the listing again without a token", err)
	}
	b = b[:len(b)-tokenMACSize]
	if [8]byte(b[1:9]) != fp {
		return store.ListPosition{}, invalid("page_token",
			"page_token belongs to another filter; send the outcomes and creation times of the listing it came from, or start again without a token", nil)
	}
	return store.ListPosition{
		CreateTime:        time.UnixMicro(int64(binary.BigEndian.Uint64(b[9:17]))).UTC(),
		CheckoutSessionID: string(b[17:]),
	}, nil
}

func invalid(field, msg string, cause error) error {
	e := completion.NewError(completion.KindInvalid, completion.ReasonInvalidRequest, msg, cause, nil)
	e.Field = field
	return e
}
