package kmiptest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/internal/vectors"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// Case is one conformance test case: requests sent in order, each with the
// response the OASIS material expects.
type Case struct {
	Group string // "TC11" for the hex cases; "SKLC", "AKLC", "OMOS", "SKFF" or "TC" for XML
	Name  string // the vector's id, e.g. "TC11-3.1.4" or "SKLC-M-1-11"
	File  string // base name of the vector file
	Steps []Step

	reg        *registry
	shiftDates bool // hex cases: request and expected dates follow the server's clock
}

// Step is one request/response exchange of a Case.
type Step struct {
	Index       int
	Client      string // "A" (default) or "B": which connection sends it
	Description string
	Request     ttlv.Item // as recorded, with the vector's identifiers
	Response    ttlv.Item // expected, with the vector's identifiers

	reqNow  map[string]int64 // XML $NOW±n in the request: key → offset (s)
	respNow map[string]int64 // XML $NOW±n in the expected response
	masked  map[string]bool  // expected-response keys whose values are not compared
}

// timeStamp returns the expected response header Time Stamp, if any.
func (s Step) timeStamp() (time.Time, bool) {
	h, ok := s.Response.Find(tagResponseHeader)
	if !ok {
		return time.Time{}, false
	}
	ts, ok := h.Find(tagTimeStamp)
	if !ok {
		return time.Time{}, false
	}
	tm, ok := ts.Value.(time.Time)
	return tm, ok
}

// knownGapMasks lists response fields the vector files do not mark variable
// although another server legitimately returns other values (KNOWN-GAPS.md):
// case → step (-1: every step) → element names masked wherever they occur.
var knownGapMasks = map[string]map[int][]string{
	// Re-keyed RSA material in Transparent format is server-generated.
	"TC11-13.3": {4: {"KeyMaterial"}, 5: {"KeyMaterial"}},
	"TC-133-11": {4: {"KeyMaterial"}, 5: {"KeyMaterial"}}, // its XML form
	// Last Change Date is server-set; it only equals a client date by chance.
	"TC11-9.5": {2: {"LastChangeDate"}, 8: {"LastChangeDate"}},
	// Issuer, serial number and subject of server-made certificates.
	"TC11-13.4": {6: certNames, 11: certNames},
	// The certificate name strings are server-specific too.
	"TC11-13.2": {-1: certNames},
}

var certNames = []string{"Issuer", "SerialNumber", "CertificateIssuerDistinguishedName", "CertificateSubjectDistinguishedName"}

// LoadTC11 returns the 36 OASIS KMIP 1.1 test cases of tc11_*.json, in file
// name order. Malformed vector files fail the test.
func LoadTC11(t testing.TB) []Case {
	t.Helper()
	dir := vectors.Dir(t)
	reg, err := loadRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "tc11_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("kmiptest: no tc11_*.json in %s: %v", dir, err)
	}
	sort.Strings(files)
	var out []Case
	for _, f := range files {
		c, err := loadHexCase(reg, f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

type hexDoc struct {
	ID    string `json:"id"`
	Steps []struct {
		Client      string `json:"client"`
		Description string `json:"description"`
		RequestHex  string `json:"request_hex"`
		ResponseHex string `json:"response_hex"`
		Variable    []struct {
			Tag        string `json:"tag"`
			ByteOffset int    `json:"byte_offset"`
		} `json:"variable_response_fields"`
	} `json:"steps"`
}

func loadHexCase(reg *registry, path string) (Case, error) {
	var doc hexDoc
	if err := readJSON(path, &doc); err != nil {
		return Case{}, err
	}
	c := Case{Group: "TC11", Name: doc.ID, File: filepath.Base(path), reg: reg, shiftDates: true}
	for i, s := range doc.Steps {
		fail := func(err error) (Case, error) {
			return Case{}, fmt.Errorf("kmiptest: %s step %d: %w", c.File, i, err)
		}
		req, err := decodeHex(s.RequestHex)
		if err != nil {
			return fail(fmt.Errorf("request: %w", err))
		}
		resp, err := decodeHex(s.ResponseHex)
		if err != nil {
			return fail(fmt.Errorf("response: %w", err))
		}
		st := Step{Index: i, Client: clientOf(s.Client), Description: s.Description,
			Request: req, Response: resp, masked: map[string]bool{}}
		offsets := itemOffsets(resp)
		for _, v := range s.Variable {
			at, ok := offsets[v.ByteOffset]
			if !ok {
				return fail(fmt.Errorf("variable field at byte %d is not the start of an item", v.ByteOffset))
			}
			if want := fmt.Sprint(at.tag); !strings.EqualFold(want, v.Tag) {
				return fail(fmt.Errorf("variable field at byte %d: tag %s, file says %s", v.ByteOffset, want, v.Tag))
			}
			st.masked[at.key] = true
		}
		if err := maskGaps(reg, c.Name, &st); err != nil {
			return fail(err)
		}
		c.Steps = append(c.Steps, st)
	}
	return c, nil
}

func clientOf(s string) string {
	if s == "" {
		return "A"
	}
	return s
}

func decodeHex(s string) (ttlv.Item, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return ttlv.Item{}, err
	}
	return ttlv.Decode(b)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("kmiptest: %s: %w", path, err)
	}
	return nil
}

type keyedTag struct {
	key string
	tag ttlv.Tag
}

// itemOffsets maps the byte offset of every item of it's encoding to its
// position key and tag.
func itemOffsets(it ttlv.Item) map[int]keyedTag {
	out := map[int]keyedTag{}
	var walk func(it ttlv.Item, key string, off int) int
	walk = func(it ttlv.Item, key string, off int) int {
		out[off] = keyedTag{key, it.Tag}
		if it.Type == ttlv.TypeStructure {
			n := 8
			for i, k := range it.Items() {
				n += walk(k, childKey(key, i), off+n)
			}
			return n
		}
		return 8 + paddedLen(it)
	}
	walk(it, "", 0)
	return out
}

// paddedLen is the encoded value length of a primitive item, with padding.
func paddedLen(it ttlv.Item) int {
	var n int
	switch v := it.Value.(type) {
	case string:
		n = len(v)
	case []byte:
		n = len(v)
	default:
		return 8 // every fixed-size value fills one 8-byte unit
	}
	return (n + 7) / 8 * 8
}

// maskGaps adds the knownGapMasks of case name to st.
func maskGaps(reg *registry, name string, st *Step) error {
	for step, names := range knownGapMasks[name] {
		if step != -1 && step != st.Index {
			continue
		}
		for _, n := range names {
			tag, ok := reg.tagByXML[n]
			if !ok {
				return fmt.Errorf("knownGapMasks names unknown element %q", n)
			}
			walkKeys(st.Response, "", func(it ttlv.Item, key string) {
				if it.Tag == tag {
					st.masked[key] = true
				}
			})
		}
	}
	return nil
}

// walkKeys calls f for it and every descendant with its position key.
func walkKeys(it ttlv.Item, key string, f func(ttlv.Item, string)) {
	f(it, key)
	for i, k := range it.Items() {
		walkKeys(k, childKey(key, i), f)
	}
}

// LoadXML returns the KMIP XML cases for protocol 1.1 whose file name (in
// the vectors folder) matches pattern, e.g. "xml_*.json" or "xml_sklc_*.json".
// Files without protocol 1.1 (the *-14 reference cases) are left out. A file
// that does not convert fails the test (with t.Errorf, so every bad file is
// reported) and is left out.
func LoadXML(t testing.TB, pattern string) []Case {
	t.Helper()
	dir := vectors.Dir(t)
	reg, err := loadRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatalf("kmiptest: pattern %q: %v", pattern, err)
	}
	sort.Strings(files)
	var out []Case
	for _, f := range files {
		c, ok, err := loadXMLCase(reg, f)
		if err != nil {
			t.Error(err)
			continue
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

type xmlDoc struct {
	ID       string   `json:"id"`
	Versions []string `json:"protocol_versions_in_file"`
	Steps    []struct {
		Client      string     `json:"client"`
		Description string     `json:"description"`
		RequestXML  string     `json:"request_xml"`
		ResponseXML string     `json:"response_xml"`
		Variable    []xmlField `json:"variable_response_fields"`
	} `json:"steps"`
}

// loadXMLCase converts one xml_*.json file; ok is false for files that do
// not use protocol 1.1.
func loadXMLCase(reg *registry, path string) (c Case, ok bool, err error) {
	var doc xmlDoc
	if err := readJSON(path, &doc); err != nil {
		return Case{}, false, err
	}
	if !slices.Contains(doc.Versions, "1.1") {
		return Case{}, false, nil
	}
	group, _, _ := strings.Cut(doc.ID, "-")
	c = Case{Group: group, Name: doc.ID, File: filepath.Base(path), reg: reg}
	for i, s := range doc.Steps {
		req, err := reg.convertXML(s.RequestXML, nil)
		if err != nil {
			return Case{}, false, fmt.Errorf("%s step %d request: %w", c.File, i, err)
		}
		resp, err := reg.convertXML(s.ResponseXML, s.Variable)
		if err != nil {
			return Case{}, false, fmt.Errorf("%s step %d response: %w", c.File, i, err)
		}
		st := Step{Index: i, Client: clientOf(s.Client), Description: s.Description,
			Request: req.item, Response: resp.item, reqNow: req.now, respNow: resp.now, masked: resp.variable}
		if err := maskGaps(reg, c.Name, &st); err != nil {
			return Case{}, false, err
		}
		c.Steps = append(c.Steps, st)
	}
	return c, true, nil
}
