package plugin

import (
	"context"
	"io"
	"log"
	"log/slog"

	hclog "github.com/hashicorp/go-hclog"
)

// levelTrace is hclog's Trace level in slog terms: below Debug.
const levelTrace = slog.LevelDebug - 4

// hcLogger lets go-plugin, which speaks hclog, log through the host's
// *slog.Logger. go-plugin uses it for its own messages and for every JSON log
// line the plugin writes to standard error, so plugin logs land in the host's
// log with their level and attributes.
type hcLogger struct {
	l    *slog.Logger
	name string
	args []any
}

func newHCLogger(l *slog.Logger) hclog.Logger {
	return &hcLogger{l: l}
}

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	lv := toSlog(level)
	if !h.l.Enabled(context.Background(), lv) {
		return
	}
	if h.name != "" {
		args = append(args, "logger", h.name)
	}
	h.l.Log(context.Background(), lv, msg, args...)
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(lv slog.Level) bool { return h.l.Enabled(context.Background(), lv) }

func (h *hcLogger) IsTrace() bool { return h.enabled(levelTrace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(slog.LevelDebug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(slog.LevelInfo) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(slog.LevelWarn) }
func (h *hcLogger) IsError() bool { return h.enabled(slog.LevelError) }

func (h *hcLogger) ImpliedArgs() []any { return h.args }

func (h *hcLogger) With(args ...any) hclog.Logger {
	return &hcLogger{l: h.l.With(args...), name: h.name, args: append(append([]any(nil), h.args...), args...)}
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{l: h.l, name: name, args: h.args}
}

// SetLevel does nothing: the host's slog handler decides what is kept.
func (h *hcLogger) SetLevel(hclog.Level) {}

// GetLevel reports the lowest level the host's handler keeps, so go-plugin
// can skip parsing plugin log lines nobody will see.
func (h *hcLogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(toSlog(lv)) {
			return lv
		}
	}
	return hclog.Off
}

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	lv := slog.LevelInfo
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		lv = toSlog(opts.ForceLevel)
	}
	return slog.NewLogLogger(h.l.Handler(), lv)
}

func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(opts).Writer()
}
