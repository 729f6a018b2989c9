package sqlstore_test

import (
	"testing"
	"testing/fstest"

	"github.com/paymentcompletion/paymentcompletion/internal/store/sqlstore"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		fs       fstest.MapFS
		versions []int
		wantErr  bool
	}{
		{
			name: "ordered_by_number_not_name",
			fs: fstest.MapFS{
				"m/10_later.sql":   file("C"),
				"m/2_second.sql":   file("B"),
				"m/0001_first.sql": file("A"),
				"m/README.md":      file("not a migration"),
			},
			versions: []int{1, 2, 10},
		},
		{name: "duplicate_version", fs: fstest.MapFS{"m/1_a.sql": file("A"), "m/01_b.sql": file("B")}, wantErr: true},
		{name: "no_number", fs: fstest.MapFS{"m/init.sql": file("A")}, wantErr: true},
		{name: "zero", fs: fstest.MapFS{"m/0_init.sql": file("A")}, wantErr: true},
		{name: "empty", fs: fstest.MapFS{"m/README.md": file("")}, wantErr: true},
		{name: "missing_dir", fs: fstest.MapFS{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, err := sqlstore.LoadMigrations(tt.fs, "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("LoadMigrations error = %v, want error %v", err, tt.wantErr)
			}
			if len(ms) != len(tt.versions) {
				t.Fatalf("LoadMigrations = %d migrations, want %d", len(ms), len(tt.versions))
			}
			for i, m := range ms {
				if m.Version != tt.versions[i] {
					t.Errorf("migration %d version = %d, want %d", i, m.Version, tt.versions[i])
				}
			}
			if len(ms) == 3 && (ms[0].SQL != "A" || ms[2].Name != "10_later.sql") {
				t.Errorf("migrations = %+v, want content and name kept", ms)
			}
		})
	}
}

func TestRankSQLCoversEveryOutcome(t *testing.T) {
	t.Parallel()
	got := sqlstore.RankSQL("outcome")
	want := "(CASE outcome WHEN 'completing' THEN 1 WHEN 'unknown' THEN 2 WHEN 'pending' THEN 3 " +
		"WHEN 'completed' THEN 4 WHEN 'declined' THEN 4 WHEN 'canceled' THEN 4 ELSE 0 END)"
	if got != want {
		t.Errorf("RankSQL =\n%s\nwant\n%s", got, want)
	}
	for _, o := range sqlstore.Outcomes {
		if !o.Valid() {
			t.Errorf("Outcomes holds invalid %q", o)
		}
	}
}
