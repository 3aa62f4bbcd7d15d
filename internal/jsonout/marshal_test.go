package jsonout

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/detect"
	"github.com/tcpka/tcpka/internal/keepalive"
)

type Inner struct {
	A int    `json:"a"`
	B string `json:"b,omitempty"`
}

type plainOut struct {
	Name    string            `json:"name"`
	Skip    int               `json:"-"`
	Ptr     *int              `json:"ptr"`
	Omit    *int              `json:"omit,omitempty"`
	List    []Inner           `json:"list"`
	Nil     []string          `json:"nil"`
	Map     map[string]int    `json:"map"`
	Time    time.Time         `json:"time"`
	Raw     json.RawMessage   `json:"raw"`
	Any     any               `json:"any"`
	Float   float64           `json:"float"`
	Escaped string            `json:"escaped"`
	Bytes   []byte            `json:"bytes"`
	Nested  map[string]*Inner `json:"nested"`
	Inner
	unexported int
}

// TestMarshalLikeEncodingJSON: without Inliners, Marshal writes what
// encoding/json writes (HTML characters aside).
func TestMarshalLikeEncodingJSON(t *testing.T) {
	n := 5
	v := plainOut{Name: "a<b>&c", Skip: 1, Ptr: &n, List: []Inner{{1, "x"}, {2, ""}},
		Map: map[string]int{"z": 1, "a": 2}, Time: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC),
		Raw: json.RawMessage(`{"k": [1, 2]}`), Any: []any{1, "two"}, Float: 1.5,
		Escaped: "tab\tquote\"back\\slash é \x1b", Bytes: []byte("hi"),
		Nested: map[string]*Inner{"x": {A: 3}}, Inner: Inner{A: 9, B: "in"}, unexported: 1}
	got, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.TrimSpace(want.String()) {
		t.Errorf("Marshal:\n got  %s\n want %s", got, want.String())
	}
}

type withSettings struct {
	Netns string `json:"netns"`
	Settings
	After *Settings `json:"after,omitempty"`
	More  bool      `json:"more"`
}

type row struct {
	*Settings
	ID string `json:"id"`
}

func TestInline(t *testing.T) {
	s := Of(keepalive.KernelDefaults, detect.Net{})
	got, err := Marshal(withSettings{Netns: "net:[1]", Settings: s, After: &s, More: true})
	if err != nil {
		t.Fatal(err)
	}
	obj := `"time_s":7200,"intvl_s":75,"probes":9,"retries2":15,"detection_s":7875,"detection":"2h11m15s","data_in_flight_s":939`
	want := `{"netns":"net:[1]",` + obj + `,"after":{` + obj + `},"more":true}`
	if string(got) != want {
		t.Errorf("Marshal:\n got  %s\n want %s", got, want)
	}
	// A nil embedded pointer adds nothing, as encoding/json does.
	got, _ = Marshal([]row{{ID: "a"}, {Settings: &s, ID: "b"}})
	if !strings.HasPrefix(string(got), `[{"id":"a"},{"time_s":7200,`) {
		t.Errorf("rows: %s", got)
	}
}

// TestSettingsShape: one rule for every command, partial values included.
func TestSettingsShape(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string
	}{
		{"namespace", Of(keepalive.Settings{Time: 60, Intvl: 15, Probes: 4, Retries2: 8}, detect.Net{}),
			`{"time_s":60,"intvl_s":15,"probes":4,"retries2":8,"detection_s":120,"detection":"2m","data_in_flight_s":107}`},
		{"namespace without tcp_retries2", Of(keepalive.Settings{Time: 60, Intvl: 15, Probes: 4}, detect.Net{}),
			`{"time_s":60,"intvl_s":15,"probes":4,"detection_s":120,"detection":"2m"}`},
		// A profile: unset keepalive keys are null, and the times are what
		// the sysctls give once it is applied; its user_timeout is listed
		// but only enforce sets it, so the data-in-flight time is
		// tcp_retries2's.
		{"partial profile", Profile(keepalive.Settings{Time: 300, Retries2: 8, UserTimeout: 2 * time.Minute}),
			`{"time_s":300,"intvl_s":null,"probes":null,"retries2":8,"user_timeout_ms":120000,"detection_s":975,"detection":"16m15s","data_in_flight_s":107}`},
		{"socket without keepalive", NewSettings(keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9},
			keepalive.Settings{Time: 7200, Intvl: 75, Probes: 9, Retries2: 15}, detect.Net{}, false),
			`{"time_s":7200,"intvl_s":75,"probes":9,"detection_s":null,"data_in_flight_s":939}`},
	}
	for _, tt := range tests {
		got, err := Marshal(tt.s)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got  %s\n want %s", tt.name, got, tt.want)
		}
	}
}
