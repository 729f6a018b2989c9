package storefake_test

import (
	"testing"

	"github.com/paymentcompletion/paymentcompletion/internal/store"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storefake"
	"github.com/paymentcompletion/paymentcompletion/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) store.Store { return storefake.New() })
}
