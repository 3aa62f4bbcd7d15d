package sysctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RevertRecord is what apply saves so that revert can restore the values
// that were there before tcpka first changed them.
type RevertRecord struct {
	Before  Values    `json:"before"`
	Profile string    `json:"profile"`
	At      time.Time `json:"at"`
}

// ErrNothingToRevert: no apply changed anything since boot or the last revert.
var ErrNothingToRevert = errors.New("nothing to revert")

// SaveRevert records rec at path unless a record is already there: revert
// goes back to before the first apply, not merely the last one, the way a
// user expects "undo tcpka" to work. The write is atomic (temp + rename).
func SaveRevert(path string, rec RevertRecord) error {
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save revert state: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".revert-*")
	if err != nil {
		return fmt.Errorf("save revert state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save revert state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save revert state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save revert state: %w", err)
	}
	return nil
}

// LoadRevert reads the record at path.
func LoadRevert(path string) (RevertRecord, error) {
	var rec RevertRecord
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return rec, ErrNothingToRevert
	}
	if err != nil {
		return rec, fmt.Errorf("revert state: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("revert state %s: %w", path, err)
	}
	return rec, nil
}
