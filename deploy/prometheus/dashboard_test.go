package prometheus

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboardFile is the Grafana dashboard.
const dashboardFile = "../grafana/tcpka.json"

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	AllValue   string          `json:"allValue"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	GridPos    gridPos     `json:"gridPos"`
	Datasource *datasource `json:"datasource"`
	Targets    []target    `json:"targets"`
	Panels     []panel     `json:"panels"` // a collapsed row's
}

type gridPos struct{ H, W, X, Y int }

type datasource struct{ Type, UID string }

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *datasource `json:"datasource"`
}

// query is one panel query, where it is on the dashboard.
type query struct {
	row, panel, refID, expr string
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// rows returns the dashboard's rows in order, each with its panels (those
// that follow an open row, or those a collapsed row holds).
func (d dashboard) rows(t *testing.T) (titles []string, panels map[string][]panel) {
	t.Helper()
	panels = map[string][]panel{}
	cur := ""
	for _, p := range d.Panels {
		if p.Type == "row" {
			cur = p.Title
			titles = append(titles, cur)
			panels[cur] = append(panels[cur], p.Panels...)
			continue
		}
		if cur == "" {
			t.Errorf("panel %q comes before the first row", p.Title)
		}
		panels[cur] = append(panels[cur], p)
	}
	return titles, panels
}

// queries returns every panel query of the dashboard, in order.
func (d dashboard) queries(t *testing.T) []query {
	t.Helper()
	titles, panels := d.rows(t)
	var out []query
	for _, row := range titles {
		for _, p := range panels[row] {
			for _, tg := range p.Targets {
				out = append(out, query{row, p.Title, tg.RefID, tg.Expr})
			}
		}
	}
	return out
}

// grafanaVars are the variables Grafana itself provides, with a value a
// test evaluates them with.
var grafanaVars = map[string]string{"__rate_interval": "1m", "__range": "5m"}

var varRE = regexp.MustCompile(`\$(\w+)|\$\{(\w+)\}`)

// expand replaces the dashboard's variables in a query: each of its query
// variables by its "All" value, Grafana's own by a duration. It returns the
// names it does not know.
func (d dashboard) expand(expr string) (string, []string) {
	vals := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			vals[v.Name] = v.AllValue
		}
	}
	var unknown []string
	out := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		sm := varRE.FindStringSubmatch(m)
		name := sm[1] + sm[2]
		if v, ok := vals[name]; ok {
			return v
		}
		if v, ok := grafanaVars[name]; ok {
			return v
		}
		unknown = append(unknown, name)
		return m
	})
	return out, unknown
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q title %q: want both", d.UID, d.Title)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			dsVar = dsVar || v.Name == "datasource"
		case "query":
			if v.AllValue == "" {
				t.Errorf("variable %s has no allValue", v.Name)
			}
		}
	}
	if !dsVar {
		t.Error("no datasource variable: the dashboard would be bound to one Prometheus")
	}

	titles, panels := d.rows(t)
	if len(titles) == 0 {
		t.Fatal("no rows")
	}
	ids := map[int]string{}
	var all []panel
	for _, row := range titles {
		if len(panels[row]) == 0 {
			t.Errorf("row %q has no panel", row)
		}
		all = append(all, panels[row]...)
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			all = append(all, p)
		}
	}
	for i, p := range all {
		if other, ok := ids[p.ID]; ok || p.ID == 0 {
			t.Errorf("panel %q: id %d (also %q)", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, g)
		}
		for _, q := range all[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap: %+v, %+v", q.Title, p.Title, h, g)
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q empty or twice", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q %s: datasource %+v", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}

	// Every query reads tcpka's metrics only, with the dashboard's variables.
	have := exported(t)
	qs := d.queries(t)
	if len(qs) < len(titles) {
		t.Fatalf("%d queries for %d rows", len(qs), len(titles))
	}
	for _, q := range qs {
		if strings.TrimSpace(q.expr) == "" {
			t.Errorf("%s / %s %s: empty expr", q.row, q.panel, q.refID)
			continue
		}
		if _, unknown := d.expand(q.expr); len(unknown) > 0 {
			t.Errorf("%s / %s %s: unknown variables %v in %s", q.row, q.panel, q.refID, unknown, q.expr)
		}
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s / %s %s reads no metric: %s", q.row, q.panel, q.refID, q.expr)
		}
		for _, n := range names {
			if !have[n] && pending[n] == "" {
				t.Errorf("%s / %s %s reads %s, which tcpka does not export", q.row, q.panel, q.refID, n)
			}
		}
	}
	// Each family of the metrics contract is on the dashboard.
	shown := map[string]bool{}
	for _, q := range qs {
		for _, n := range metricNames(q.expr) {
			shown[n] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(pending)) {
		if !shown[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
	for _, n := range []string{"tcpka_dead_peer_detection_seconds", "tcpka_profile_drift", "tcpka_watch_corrections_total", "tcpka_sockets"} {
		if !shown[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}

func TestExpand(t *testing.T) {
	d := dashboard{}
	d.Templating.List = []variable{{Name: "job", Type: "query", AllValue: ".+"}, {Name: "datasource", Type: "datasource"}}
	for _, tt := range []struct {
		in, want string
		unknown  []string
	}{
		{`x{job=~"$job"}`, `x{job=~".+"}`, nil},
		{`rate(x{job=~"${job}"}[$__rate_interval])`, `rate(x{job=~".+"}[1m])`, nil},
		{`x{instance=~"$node"}`, `x{instance=~"$node"}`, []string{"node"}},
	} {
		got, unknown := d.expand(tt.in)
		if got != tt.want || !slices.Equal(unknown, tt.unknown) {
			t.Errorf("expand(%q) = %q, %v; want %q, %v", tt.in, got, unknown, tt.want, tt.unknown)
		}
	}
}
