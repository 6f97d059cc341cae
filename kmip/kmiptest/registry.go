package kmiptest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// registry holds the KMIP 1.1 tag, enumeration and bit-mask tables of
// kmip11_tags_enums.json, keyed for the XML encoder and for diagnostics.
type registry struct {
	tagByXML  map[string]ttlv.Tag            // "UniqueIdentifier" → 0x420094
	tagBySpec map[string]ttlv.Tag            // "Unique Identifier" → 0x420094
	xmlByTag  map[ttlv.Tag]string            // 0x420094 → "UniqueIdentifier"
	enums     map[ttlv.Tag]map[string]uint32 // tag → XML value name → value
	enumNames map[ttlv.Tag]map[uint32]string // tag → value → XML value name
	masks     map[ttlv.Tag]map[string]uint32 // bit-mask tag → flag name → bit
}

type tableEntry struct {
	Tag     string `json:"tag"`
	Value   string `json:"value"`
	XMLName string `json:"xml_name"`
}

// loadRegistry reads kmip11_tags_enums.json from the vectors folder dir.
func loadRegistry(dir string) (*registry, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kmip11_tags_enums.json"))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Tags         map[string]tableEntry            `json:"tags"`
		Enumerations map[string]map[string]tableEntry `json:"enumerations"`
		BitMasks     map[string]map[string]tableEntry `json:"bit_masks"`
		Aliases      map[string]json.RawMessage       `json:"xml_aliases_seen_in_test_cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("kmiptest: kmip11_tags_enums.json: %w", err)
	}
	r := &registry{
		tagByXML:  map[string]ttlv.Tag{},
		tagBySpec: map[string]ttlv.Tag{},
		xmlByTag:  map[ttlv.Tag]string{},
		enums:     map[ttlv.Tag]map[string]uint32{},
		enumNames: map[ttlv.Tag]map[uint32]string{},
		masks:     map[ttlv.Tag]map[string]uint32{},
	}
	for spec, e := range doc.Tags {
		v, err := parseHex32(e.Tag)
		if err != nil {
			return nil, fmt.Errorf("kmiptest: tag %q: %w", spec, err)
		}
		t := ttlv.Tag(v)
		r.tagByXML[e.XMLName] = t
		r.tagBySpec[spec] = t
		r.xmlByTag[t] = e.XMLName
	}
	addValues := func(dst map[ttlv.Tag]map[string]uint32, spec string, vals map[string]tableEntry) error {
		t, ok := r.tagBySpec[spec]
		if !ok {
			return fmt.Errorf("kmiptest: table %q names no tag", spec)
		}
		m := map[string]uint32{}
		for name, e := range vals {
			v, err := parseHex32(e.Value)
			if err != nil {
				return fmt.Errorf("kmiptest: %s %q: %w", spec, name, err)
			}
			m[e.XMLName] = v
		}
		dst[t] = m
		return nil
	}
	for spec, vals := range doc.Enumerations {
		if err := addValues(r.enums, spec, vals); err != nil {
			return nil, err
		}
	}
	for spec, vals := range doc.BitMasks {
		if err := addValues(r.masks, spec, vals); err != nil {
			return nil, err
		}
	}
	for t, m := range r.enums {
		names := map[uint32]string{}
		for n, v := range m {
			names[v] = n
		}
		r.enumNames[t] = names
	}
	// Aliases: spellings used by the 1.2-era XML test cases.
	for spec, raw := range doc.Aliases {
		var vals map[string]string
		if json.Unmarshal(raw, &vals) != nil {
			continue // the "note" entry
		}
		t, ok := r.tagBySpec[spec]
		if !ok || r.enums[t] == nil {
			return nil, fmt.Errorf("kmiptest: alias table %q names no enumeration", spec)
		}
		for name, hex := range vals {
			v, err := parseHex32(hex)
			if err != nil {
				return nil, fmt.Errorf("kmiptest: alias %q: %w", name, err)
			}
			r.enums[t][name] = v
		}
	}
	return r, nil
}

func parseHex32(s string) (uint32, error) {
	if !strings.HasPrefix(s, "0x") {
		return 0, fmt.Errorf("%q is not 0x-prefixed hex", s)
	}
	v, err := strconv.ParseUint(s[2:], 16, 32)
	return uint32(v), err
}

// tagName returns the CamelCase name of t, or its hex form when unknown.
func (r *registry) tagName(t ttlv.Tag) string {
	if r != nil {
		if n, ok := r.xmlByTag[t]; ok {
			return n
		}
	}
	return t.String()
}

// enumName returns the name of enumeration value v of tag t, or its hex form.
func (r *registry) enumName(t ttlv.Tag, v uint32) string {
	if r != nil {
		if n, ok := r.enumNames[t][v]; ok {
			return n
		}
	}
	return fmt.Sprintf("0x%08X", v)
}
