package ssmcli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// pyTime is a datetime as Python sees it: possibly naive (no offset).
type pyTime struct {
	t     time.Time
	naive bool
}

// isoformat renders datetime.isoformat(): microseconds only when non-zero.
func (p pyTime) isoformat(sep string) string {
	s := p.t.Format("2006-01-02" + sep + "15:04:05")
	if us := p.t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	if !p.naive {
		_, off := p.t.Zone()
		sign := "+"
		if off < 0 {
			sign = "-"
			off = -off
		}
		s += fmt.Sprintf("%s%02d:%02d", sign, off/3600, off/60%60)
	}
	return s
}

// fromEpoch mirrors datetime.fromtimestamp(value, tz): microseconds are
// rounded half to even.
func fromEpoch(f float64, loc *time.Location) time.Time {
	sec, frac := math.Modf(f)
	us := math.RoundToEven(frac * 1e6)
	if us >= 1e6 {
		sec++
		us -= 1e6
	} else if us < 0 {
		sec--
		us += 1e6
	}
	return time.Unix(int64(sec), int64(us)*1000).In(loc)
}

var isoLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05.999999999-0700",
	"2006-01-02T15:04:05-0700",
	time.RFC1123,
	time.RFC1123Z,
}

var naiveLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02",
	"20060102T150405",
}

// parseTimestampString parses the timestamp formats botocore accepts
// (epoch numbers as strings, ISO 8601, RFC 1123).
func parseTimestampString(s string, loc *time.Location) (pyTime, error) {
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		return pyTime{t: fromEpoch(f, loc)}, nil
	}
	v := strings.TrimSpace(s)
	for _, l := range isoLayouts {
		if t, err := time.Parse(l, v); err == nil {
			if strings.HasSuffix(v, "GMT") || strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "UTC") {
				t = t.UTC()
			}
			return pyTime{t: t}, nil
		}
	}
	for _, l := range naiveLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return pyTime{t: t, naive: true}, nil
		}
	}
	return pyTime{}, fmt.Errorf("Invalid timestamp %q", s)
}

// parseTimestampInput parses a request timestamp; naive values are UTC.
func parseTimestampInput(s string) (time.Time, error) {
	p, err := parseTimestampString(s, time.UTC)
	if err != nil {
		return time.Time{}, err
	}
	return p.t, nil
}

// timestampFormatter converts wire timestamps for output according to
// cli_timestamp_format ("iso8601" or "wire").
type timestampFormatter struct {
	wire bool
	loc  *time.Location
}

func (f timestampFormatter) format(v any) any {
	if f.wire {
		return v
	}
	switch x := v.(type) {
	case float64:
		return pyTime{t: fromEpoch(x, f.loc)}.isoformat("T")
	case string:
		p, err := parseTimestampString(x, f.loc)
		if err != nil {
			return x
		}
		return p.isoformat("T")
	}
	return v
}
