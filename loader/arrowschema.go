package loader

import (
	"encoding/base64"
	"encoding/binary"
)

// Files written through arrow carry their arrow schema in the footer's
// "ARROW:schema" key, as a base64 IPC message; pqarrow decodes it to
// restore types Parquet cannot express (fixed_size_list, large_list, ...).
//
// arrow-go decodes that flatbuffer without bounds checks on vector lengths:
// a corrupt length makes it allocate hundreds of gigabytes, and the Go
// runtime's out-of-memory error is fatal, not a recoverable panic. So before
// pqarrow sees the footer, plausibleArrowSchema walks the flatbuffer and
// checks that every table, vector and string it would touch lies inside the
// message; a schema failing that is ignored and the types come from the
// Parquet schema alone (fixed-size lists then read as plain lists, which
// bind the same way, only checked per batch instead of up front).

const arrowSchemaKey = "ARROW:schema"

func plausibleArrowSchema(serialized string) bool {
	var (
		data []byte
		err  error
	)
	// Same fallback as pqarrow: padded encoding first, then raw.
	if len(serialized)%4 == 0 {
		data, err = base64.StdEncoding.DecodeString(serialized)
	}
	if len(data) == 0 || err != nil {
		data, err = base64.RawStdEncoding.DecodeString(serialized)
	}
	if err != nil || len(data) < 8 {
		return false
	}
	// IPC framing: optional 0xFFFFFFFF continuation, then the metadata
	// length, then the Message flatbuffer.
	n := binary.LittleEndian.Uint32(data)
	data = data[4:]
	if n == 0xFFFFFFFF {
		if len(data) < 4 {
			return false
		}
		n = binary.LittleEndian.Uint32(data)
		data = data[4:]
	}
	if n < 4 || uint64(n) > uint64(len(data)) {
		return false
	}
	fb := flatbuf{buf: data[:n]}
	body := data[n:]

	msg, ok := fb.root()
	if !ok {
		return false
	}
	// Message: 0 version, 1 header_type, 2 header, 3 bodyLength, 4 custom_metadata.
	if bl, ok := fb.scalar(msg, 3, 8); !ok || bl > uint64(len(body)) {
		return false
	}
	if ht, ok := fb.scalar(msg, 1, 1); !ok || ht != 1 { // 1 = Schema
		return false
	}
	if !fb.keyValues(msg, 4) {
		return false
	}
	schema, ok := fb.table(msg, 2)
	if !ok || schema < 0 {
		return false
	}
	// Schema: 0 endianness, 1 fields, 2 custom_metadata, 3 features.
	if !fb.keyValues(schema, 2) {
		return false
	}
	if _, ok := fb.vector(schema, 3, 8); !ok {
		return false
	}
	return fb.fields(schema, 1, 0)
}

// flatbuf is a bounds-checking reader for the few flatbuffer constructs the
// arrow schema uses. Positions are -1 for absent fields.
type flatbuf struct{ buf []byte }

func (f flatbuf) u32(pos int) (uint32, bool) {
	if pos < 0 || pos+4 > len(f.buf) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(f.buf[pos:]), true
}

func (f flatbuf) u16(pos int) (uint16, bool) {
	if pos < 0 || pos+2 > len(f.buf) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(f.buf[pos:]), true
}

// checkTable validates the table at pos and its vtable.
func (f flatbuf) checkTable(pos int) bool {
	so, ok := f.u32(pos)
	if !ok {
		return false
	}
	vt := pos - int(int32(so))
	vsize, ok1 := f.u16(vt)
	tsize, ok2 := f.u16(vt + 2)
	return ok1 && ok2 && vsize >= 4 && vsize%2 == 0 && vt+int(vsize) <= len(f.buf) && pos+int(tsize) <= len(f.buf)
}

func (f flatbuf) root() (int, bool) {
	off, ok := f.u32(0)
	if !ok || int(off) >= len(f.buf) || !f.checkTable(int(off)) {
		return 0, false
	}
	return int(off), true
}

// field returns the absolute position of field i of the table at pos, or
// -1 if the field is absent.
func (f flatbuf) field(pos, i int) (int, bool) {
	so, _ := f.u32(pos)
	vt := pos - int(int32(so))
	vsize, _ := f.u16(vt)
	if 4+2*i >= int(vsize) {
		return -1, true
	}
	off, ok := f.u16(vt + 4 + 2*i)
	if !ok {
		return 0, false
	}
	if off == 0 {
		return -1, true
	}
	return pos + int(off), true
}

// scalar reads a little-endian scalar field of the given width (0 if
// absent).
func (f flatbuf) scalar(pos, i, width int) (uint64, bool) {
	p, ok := f.field(pos, i)
	if !ok || p < 0 {
		return 0, ok
	}
	if p+width > len(f.buf) {
		return 0, false
	}
	var v uint64
	for k := width - 1; k >= 0; k-- {
		v = v<<8 | uint64(f.buf[p+k])
	}
	return v, true
}

// indirect follows the offset stored at p.
func (f flatbuf) indirect(p int) (int, bool) {
	off, ok := f.u32(p)
	if !ok {
		return 0, false
	}
	t := p + int(off)
	return t, t < len(f.buf)
}

// table returns the sub-table in field i, or -1 if absent.
func (f flatbuf) table(pos, i int) (int, bool) {
	p, ok := f.field(pos, i)
	if !ok || p < 0 {
		return -1, ok
	}
	t, ok := f.indirect(p)
	return t, ok && f.checkTable(t)
}

// vector returns the start and length of the vector in field i, checking
// that length*elemSize bytes fit; start is -1 if absent.
func (f flatbuf) vector(pos, i, elemSize int) ([2]int, bool) {
	p, ok := f.field(pos, i)
	if !ok || p < 0 {
		return [2]int{-1, 0}, ok
	}
	v, ok := f.indirect(p)
	if !ok {
		return [2]int{}, false
	}
	n, ok := f.u32(v)
	if !ok || uint64(n)*uint64(elemSize) > uint64(len(f.buf)-v-4) {
		return [2]int{}, false
	}
	return [2]int{v + 4, int(n)}, true
}

// tables checks a vector of tables and calls each on every element.
func (f flatbuf) tables(pos, i int, each func(t int) bool) bool {
	vec, ok := f.vector(pos, i, 4)
	if !ok {
		return false
	}
	for k := 0; vec[0] >= 0 && k < vec[1]; k++ {
		t, ok := f.indirect(vec[0] + 4*k)
		if !ok || !f.checkTable(t) || !each(t) {
			return false
		}
	}
	return true
}

func (f flatbuf) str(pos, i int) bool {
	_, ok := f.vector(pos, i, 1)
	return ok
}

// keyValues checks a custom_metadata vector of KeyValue{key, value}.
func (f flatbuf) keyValues(pos, i int) bool {
	return f.tables(pos, i, func(t int) bool { return f.str(t, 0) && f.str(t, 1) })
}

// fields checks a vector of Field tables, recursively.
func (f flatbuf) fields(pos, i, depth int) bool {
	if depth > 64 {
		return false
	}
	return f.tables(pos, i, func(t int) bool {
		// Field: 0 name, 1 nullable, 2 type_type, 3 type, 4 dictionary,
		// 5 children, 6 custom_metadata.
		if !f.str(t, 0) || !f.keyValues(t, 6) {
			return false
		}
		typ, ok := f.table(t, 3)
		if !ok {
			return false
		}
		if tt, _ := f.scalar(t, 2, 1); tt == 14 && typ >= 0 { // Union: 0 mode, 1 typeIds
			if _, ok := f.vector(typ, 1, 4); !ok {
				return false
			}
		}
		if dict, ok := f.table(t, 4); !ok {
			return false
		} else if dict >= 0 { // DictionaryEncoding: 1 indexType (Int)
			if _, ok := f.table(dict, 1); !ok {
				return false
			}
		}
		return f.fields(t, 5, depth+1)
	})
}
