package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Registration is what `tether agent register` obtains and stores: the
// node's identity and credentials, in the state directory, mode 0600.
type Registration struct {
	Server          string `json:"Server"` // API and gateway base URL
	Region          string `json:"Region"`
	NodeID          string `json:"NodeId"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

func (r Registration) region() string {
	if r.Region == "" {
		return "us-east-1"
	}
	return r.Region
}

// RegistrationFile is the file name of the registration in the state dir.
const RegistrationFile = "registration.json"

// SaveRegistration writes r to dir/registration.json (0600, dir 0700),
// atomically.
func SaveRegistration(dir string, r Registration) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".registration-*")
	if err != nil {
		return fmt.Errorf("save registration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save registration: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save registration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save registration: %w", err)
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, RegistrationFile))
}

// LoadRegistration reads dir/registration.json.
func LoadRegistration(dir string) (Registration, error) {
	var r Registration
	b, err := os.ReadFile(filepath.Join(dir, RegistrationFile))
	if errors.Is(err, os.ErrNotExist) {
		return r, fmt.Errorf("no registration in %s: run `tether agent register` first", dir)
	}
	if err != nil {
		return r, fmt.Errorf("load registration: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("load registration %s: %w", filepath.Join(dir, RegistrationFile), err)
	}
	return r, nil
}
