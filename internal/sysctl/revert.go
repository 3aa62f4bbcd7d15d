package sysctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tcpka/tcpka/internal/atomicfile"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// RevertRecord is what apply saves so that revert can restore the values
// that were there before tcpka first changed them.
type RevertRecord struct {
	Before  keepalive.Settings
	Profile string
	At      time.Time
}

// recordJSON is the record on disk; field names are stable.
type recordJSON struct {
	Before  valuesJSON `json:"before"`
	Profile string     `json:"profile"`
	At      time.Time  `json:"at"`
}

type valuesJSON struct {
	Time   int `json:"time_s"`
	Intvl  int `json:"intvl_s"`
	Probes int `json:"probes"`
}

// ErrNothingToRevert: no apply changed anything since boot or the last revert.
var ErrNothingToRevert = errors.New("nothing to revert")

// maxRecord bounds a state file read: a record is a few hundred bytes.
const maxRecord = 64 << 10

// SaveRevert records rec as name in the private state directory d unless a
// record is already there: revert goes back to before the first apply,
// not merely the last one, the way a user expects "undo tcpka" to work.
func SaveRevert(d *atomicfile.Dir, name string, rec RevertRecord) error {
	if kind, _, err := d.Stat(name); err != nil {
		return fmt.Errorf("save revert state: %w", err)
	} else if kind != atomicfile.Absent {
		return nil
	}
	b, err := json.Marshal(recordJSON{
		Before:  valuesJSON{Time: rec.Before.Time, Intvl: rec.Before.Intvl, Probes: rec.Before.Probes},
		Profile: rec.Profile, At: rec.At,
	})
	if err != nil {
		return err
	}
	if err := d.WriteFile(name, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save revert state: %w", err)
	}
	return nil
}

// LoadRevert reads the record name in the private state directory d.
func LoadRevert(d *atomicfile.Dir, name string) (RevertRecord, error) {
	b, err := d.ReadPrivate(name, maxRecord)
	if errors.Is(err, os.ErrNotExist) {
		return RevertRecord{}, ErrNothingToRevert
	}
	if err != nil {
		return RevertRecord{}, fmt.Errorf("revert state: %w", err)
	}
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return RevertRecord{}, fmt.Errorf("revert state %s: %w", d.Where()+"/"+name, err)
	}
	return RevertRecord{
		Before:  keepalive.Settings{Time: j.Before.Time, Intvl: j.Before.Intvl, Probes: j.Before.Probes},
		Profile: j.Profile, At: j.At,
	}, nil
}
