package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/tcpka/tcpka/profiles"
)

// ErrUnknown is wrapped when a name is neither shipped nor a file.
var ErrUnknown = errors.New("unknown profile")

// IsPath says whether arg names a file rather than a shipped profile:
// anything containing '/' or ending in .yaml or .yml.
func IsPath(arg string) bool {
	return strings.Contains(arg, "/") || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml")
}

// Load resolves arg to a shipped profile or a file and decodes it.
func Load(arg string) (*Profile, error) {
	if arg == "" {
		return nil, fmt.Errorf("%w: empty name", ErrUnknown)
	}
	if IsPath(arg) {
		return LoadFile(arg)
	}
	return Shipped(arg)
}

// LoadFile reads and decodes a profile file.
func LoadFile(path string) (*Profile, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a profile file", path)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > 1<<20 {
		return nil, fmt.Errorf("%s: %d bytes is too large for a profile", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(path, NameFromFile(path), data)
}

// Shipped returns the shipped profile called name.
func Shipped(name string) (*Profile, error) {
	data, err := profiles.FS.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("%s: %w: shipped profiles are %s; a file path needs a '/' or a .yaml suffix",
			name, ErrUnknown, strings.Join(ShippedNames(), ", "))
	}
	p, err := Decode("profiles/"+name+".yaml", name, data)
	if err != nil {
		return nil, err
	}
	p.Origin = "shipped"
	return p, nil
}

// ShippedNames lists the shipped profiles, sorted.
func ShippedNames() []string {
	entries, _ := profiles.FS.ReadDir(".")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// All decodes every shipped profile.
func All() ([]*Profile, error) {
	var out []*Profile
	for _, n := range ShippedNames() {
		p, err := Shipped(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
