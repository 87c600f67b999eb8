package xrdp

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// sesmanLine is what one xrdp-sesman log line says about a session.
type sesmanLine struct {
	start      bool // "Starting session": the session began; else a reconnect
	display    int
	sessionPID int
	user       string // "" in the variant that logs the uid
	uid        int64  // -1 unless that variant
	addr       string // the client, as CanonicalAddress renders it; "" when the line has none
	time       time.Time
}

// The two sesman messages that tie a client address to a display and the
// session process (xrdp sesman/session.c and scp_process.c, 0.9 and 0.10):
//
//	Starting session: session_pid 906, display :10.0, width 1024, height 768, bpp 24, client ip ::ffff:192.168.1.188:38410 - socket: 12, user name wi
//	Starting session: session_pid 906, display :10.0, width 1024, height 768, bpp 24, client ip ::ffff:192.168.1.188, UID 1000
//	++ reconnected session: username wi, display :10.0, session_pid 906, ip ::ffff:192.168.1.188:40110 - socket: 12
//
// A message counts only at the start of a line after the log's own prefix
// (sesman's "[20211029-01:18:31] [INFO ] " or syslog's "Jul 15 09:10:39
// host xrdp-sesman[887]: [INFO ] "): a user name a client typed into a
// failed login is logged too, and must not pass for a session.
var (
	reStart = regexp.MustCompile(`^Starting session: session_pid (\d+), display :(\d+)\.0, width \d+, height \d+, bpp \d+, client ip (.*), (?:user name (.*)|UID (\d+))$`)
	reRecon = regexp.MustCompile(`^\+\+ reconnected session: username (.*), display :(\d+)\.0, session_pid (\d+)(?:, ip (.*))?$`)
	rePrefx = regexp.MustCompile(`^(?:\[(\d{8}-\d{2}:\d{2}:\d{2})\] )?(?:[A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \S+ xrdp-sesman\[\d+\]: )?(?:\(\d+\)\(\d+\))?\[(?:INFO |DEBUG|WARN |ERROR|CORE |TRACE)\] `)
)

// maxLine bounds the lines considered: sesman's messages are short.
const maxLine = 4096

// parseSesman returns the session lines of a log in file order. Times in
// sesman's own prefix are local time, read in loc. Lines holding control
// characters are skipped.
func parseSesman(b []byte, loc *time.Location) []sesmanLine {
	var out []sesmanLine
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > maxLine || !bytes.Contains(line, []byte(" session")) || hasControl(line) {
			continue
		}
		p := rePrefx.FindSubmatchIndex(line)
		if p == nil {
			continue
		}
		msg := string(line[p[1]:])
		var l sesmanLine
		if m := reStart.FindStringSubmatch(msg); m != nil {
			l = sesmanLine{start: true, sessionPID: atoi(m[1]), display: atoi(m[2]), addr: sesmanAddress(m[3]), user: m[4], uid: -1}
			if m[5] != "" {
				l.uid = int64(atoi(m[5]))
			}
		} else if m := reRecon.FindStringSubmatch(msg); m != nil {
			l = sesmanLine{user: m[1], display: atoi(m[2]), sessionPID: atoi(m[3]), addr: sesmanAddress(m[4]), uid: -1}
		} else {
			continue
		}
		if l.display < 0 || l.sessionPID <= 0 {
			continue
		}
		if p[2] >= 0 {
			l.time, _ = time.ParseInLocation("20060102-15:04:05", string(line[p[2]:p[3]]), loc)
		}
		out = append(out, l)
	}
	return out
}

// sesmanAddress reads the client as sesman logs it: an address, in 0.9 as
// "address:port - socket: N" (the description of the connection).
func sesmanAddress(s string) string {
	s = strings.TrimSpace(s)
	described := false
	if i := strings.LastIndex(s, " - socket: "); i >= 0 {
		s, described = s[:i], true
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && allDigits(s[i+1:]) {
		// The port is cut only where there surely is one: after a
		// described connection, a dotted IPv4 or a bracketed IPv6
		// ("::1:5000" alone is an IPv6 address).
		if host := s[:i]; described || strings.Count(host, ":") == 0 || strings.HasSuffix(host, "]") {
			s = host
		}
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return detector.CanonicalAddress(s)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n > 1<<30 {
		return -1
	}
	return n
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
