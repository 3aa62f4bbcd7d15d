package prometheus

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fleetDoc is the page that describes the rules and the dashboard.
const fleetDoc = "../../docs/fleet.md"

// section returns the lines of a markdown section, from its heading to the
// next heading of the same or a higher level.
func section(t *testing.T, doc, heading string) []string {
	t.Helper()
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	level := strings.Index(heading, " ")
	var out []string
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		if in && strings.HasPrefix(l, "#") {
			if n := strings.Index(l, " "); n > 0 && n <= level && strings.Trim(l[:n], "#") == "" {
				break
			}
		}
		if l == heading {
			in = true
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	if !in {
		t.Fatalf("%s has no %q", doc, heading)
	}
	return out
}

// tableRows returns the cells of the table rows in lines whose first cell
// is a code span.
func tableRows(lines []string) [][]string {
	var rows [][]string
	for _, l := range lines {
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(l, "|"), " | ") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// runbookPattern turns a runbook annotation into a pattern for the command
// the page shows: a template stands for any word.
func runbookPattern(runbook string) *regexp.Regexp {
	parts := regexp.MustCompile(`\{\{.*?\}\}`).Split(runbook, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, `\S+`) + "$")
}

// TestFleetDocAlerts: docs/fleet.md's alert table lists every alert of the
// rule file, once, with its runbook command, and its threshold table every
// threshold with its default.
func TestFleetDocAlerts(t *testing.T) {
	f := loadRules(t)
	rows := tableRows(section(t, fleetDoc, "### Alerts"))
	var documented []string
	byName := map[string][]string{}
	for _, r := range rows {
		name := strings.Trim(r[0], "`")
		documented = append(documented, name)
		byName[name] = r
	}
	var names []string
	for _, a := range f.alerts() {
		names = append(names, a.Alert)
		r, ok := byName[a.Alert]
		if !ok {
			continue
		}
		if len(r) != 4 {
			t.Errorf("%s: the row has %d cells, want 4: %q", a.Alert, len(r), r)
			continue
		}
		m := codeSpan.FindStringSubmatch(r[3])
		if m == nil || !runbookPattern(a.Annotations["runbook"]).MatchString(m[1]) {
			t.Errorf("%s: the page's runbook %q is not the rule's %q", a.Alert, r[3], a.Annotations["runbook"])
		}
		if a.For != "" && !strings.Contains(r[2], strings.TrimSuffix(a.For, "m")+" min") {
			t.Errorf("%s: the page says %q, the rule waits for %s", a.Alert, r[2], a.For)
		}
		for _, th := range thresholdUseRE.FindAllStringSubmatch(a.Expr, -1) {
			if !strings.Contains(r[2], "`"+th[1]+"`") {
				t.Errorf("%s: the page does not name its threshold %s: %q", a.Alert, th[1], r[2])
			}
		}
	}
	if !slices.Equal(documented, names) {
		t.Errorf("%s lists the alerts %v, the rule file has %v (same order)", fleetDoc, documented, names)
	}

	var docTh, fileTh []string
	for _, r := range tableRows(section(t, fleetDoc, "### Thresholds")) {
		if len(r) == 3 {
			docTh = append(docTh, strings.Trim(r[0], "`")+" "+r[1])
		}
	}
	for _, th := range f.thresholds(t) {
		fileTh = append(fileTh, th.name+" "+strconv.FormatFloat(th.def, 'g', -1, 64))
	}
	if !slices.Equal(docTh, fileTh) {
		t.Errorf("%s lists the thresholds %q, the rule file records %q", fleetDoc, docTh, fileTh)
	}
}

// TestFleetDocDashboard: docs/fleet.md describes the dashboard's rows, in
// order.
func TestFleetDocDashboard(t *testing.T) {
	var described []string
	bullet := regexp.MustCompile(`^- \*\*(.+?)\*\*:`)
	for _, l := range section(t, fleetDoc, "### The dashboard") {
		if m := bullet.FindStringSubmatch(l); m != nil {
			described = append(described, m[1])
		}
	}
	rows, _ := loadDashboard(t).rows(t)
	if !slices.Equal(described, rows) {
		t.Errorf("%s describes the rows %q, the dashboard has %q", fleetDoc, described, rows)
	}
}
