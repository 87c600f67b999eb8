package config

import (
	"bytes"

	"go.yaml.in/yaml/v3"
)

// The YAML shape mirrors the schema keys so the output can be saved and
// loaded back as a configuration file.
type yamlConfig struct {
	Detector    yamlDetector    `yaml:"detector"`
	Log         yamlLog         `yaml:"log"`
	Sources     *[]yamlSource   `yaml:"sources,omitempty"` // nil: no sources key (the program's default)
	Store       yamlStore       `yaml:"store"`
	Plugin      yamlPlugin      `yaml:"plugin"`
	Input       yamlInput       `yaml:"input"`
	State       yamlState       `yaml:"state"`
	Attribution yamlAttribution `yaml:"attribution"`
	Evidence    yamlEvidence    `yaml:"evidence"`
}

type yamlEvidence struct {
	Hash         bool   `yaml:"hash"`
	Dir          string `yaml:"dir"`
	MaxFileBytes int64  `yaml:"max_file_bytes"`
	MaxDirBytes  int64  `yaml:"max_dir_bytes"`
	Concurrency  int    `yaml:"concurrency"`
	Timeout      string `yaml:"timeout"`
	Queue        int    `yaml:"queue"`
}

type yamlAttribution struct {
	XrdpSesmanLog string `yaml:"xrdp_sesman_log"`
}

type yamlState struct {
	Dir string `yaml:"dir"`
}

type yamlInput struct {
	MaxRecordBytes int   `yaml:"max_record_bytes"`
	MaxSpool       int64 `yaml:"max_spool"`
}

type yamlDetector struct {
	Strict         bool     `yaml:"strict"`
	Extensions     []string `yaml:"extensions"`
	XrdpMountNames []string `yaml:"xrdp_mount_names"`
}

type yamlLog struct {
	Level string `yaml:"level"`
}

type yamlSource struct {
	Type     string `yaml:"type"`
	Path     string `yaml:"path,omitempty"`
	Follow   bool   `yaml:"follow,omitempty"`
	Interval string `yaml:"interval,omitempty"`
	Table    string `yaml:"table,omitempty"`
	Socket   string `yaml:"socket,omitempty"`
}

type yamlStore struct {
	MaxEvents int    `yaml:"max_events"`
	MaxBytes  int64  `yaml:"max_bytes"`
	Expiry    string `yaml:"expiry"`
}

type yamlPlugin struct {
	Path            string `yaml:"path"`
	SHA256          string `yaml:"sha256"`
	AllowUnverified bool   `yaml:"allow_unverified"`
}

// YAML renders c as a configuration file that Load reads back to the same
// Config. File is not part of it.
func (c Config) YAML() ([]byte, error) {
	y := yamlConfig{
		Detector: yamlDetector{
			Strict:         c.Detector.Strict,
			Extensions:     nonNil(c.Detector.Extensions),
			XrdpMountNames: nonNil(c.Detector.XrdpMountNames),
		},
		Log:         yamlLog{Level: c.Log.Level},
		Store:       yamlStore{MaxEvents: c.Store.MaxEvents, MaxBytes: c.Store.MaxBytes, Expiry: c.Store.Expiry.String()},
		Plugin:      yamlPlugin{Path: c.Plugin.Path, SHA256: c.Plugin.SHA256, AllowUnverified: c.Plugin.AllowUnverified},
		Input:       yamlInput{MaxRecordBytes: c.Input.MaxRecordBytes, MaxSpool: c.Input.MaxSpool},
		State:       yamlState{Dir: c.State.Dir},
		Attribution: yamlAttribution{XrdpSesmanLog: c.Attribution.XrdpSesmanLog},
		Evidence: yamlEvidence{Hash: c.Evidence.Hash, Dir: c.Evidence.Dir, MaxFileBytes: c.Evidence.MaxFileBytes,
			MaxDirBytes: c.Evidence.MaxDirBytes, Concurrency: c.Evidence.Concurrency, Timeout: c.Evidence.Timeout.String(),
			Queue: c.Evidence.Queue},
	}
	if c.SourcesGiven || len(c.Sources) > 0 {
		list := []yamlSource{}
		for _, s := range c.Sources {
			ys := yamlSource{Type: s.Type, Path: s.Path, Follow: s.Follow, Table: s.Table, Socket: s.Socket}
			if s.Interval > 0 {
				ys.Interval = s.Interval.String()
			}
			list = append(list, ys)
		}
		y.Sources = &list
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(y); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// nonNil makes an empty list render as [] rather than null, which would
// read back as "unset" and bring the default back.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
