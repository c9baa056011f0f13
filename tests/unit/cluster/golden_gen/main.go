// Prints golden bytes for tests/unit/cluster/test_codec.py using the same msgpack library
// and settings memberlist uses (hashicorp/go-msgpack 0.5, default MsgpackHandle) and Go's
// compress/lzw. Run (Debian packages golang-go, golang-github-hashicorp-go-msgpack-dev):
//   GO111MODULE=off GOPATH=/tmp/x:/usr/share/gocode go run main.go
// The struct shapes below restate memberlist's wire structs (field names, types, tags).
package main

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"

	"github.com/hashicorp/go-msgpack/codec"
)

type ping struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type indirectPingReq struct {
	SeqNo      uint32
	Target     []byte
	Port       uint16
	Node       string
	Nack       bool
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}

type ackResp struct {
	SeqNo   uint32
	Payload []byte
}

type nackResp struct{ SeqNo uint32 }

type errResp struct{ Error string }

type suspect struct {
	Incarnation uint32
	Node        string
	From        string
}

type alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}

type dead struct {
	Incarnation uint32
	Node        string
	From        string
}

type pushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

type userMsgHeader struct{ UserMsgLen int }

type pushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []uint8
}

type compress struct {
	Algo int
	Buf  []byte
}

func enc(t byte, in interface{}) []byte {
	buf := bytes.NewBuffer(nil)
	if t != 255 {
		buf.WriteByte(t)
	}
	hd := codec.MsgpackHandle{}
	if err := codec.NewEncoder(buf, &hd).Encode(in); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func lzwBytes(in []byte) []byte {
	var b bytes.Buffer
	w := lzw.NewWriter(&b, lzw.LSB, 8)
	w.Write(in)
	w.Close()
	return b.Bytes()
}

func compound(msgs ...[]byte) []byte {
	buf := bytes.NewBuffer(nil)
	buf.WriteByte(7)
	buf.WriteByte(uint8(len(msgs)))
	for _, m := range msgs {
		binary.Write(buf, binary.BigEndian, uint16(len(m)))
	}
	for _, m := range msgs {
		buf.Write(m)
	}
	return buf.Bytes()
}

func show(name string, b []byte) { fmt.Printf("%s %s\n", name, hex.EncodeToString(b)) }

func main() {
	vsn := []uint8{1, 5, 2, 0, 0, 0}
	show("ping", enc(0, &ping{SeqNo: 7, Node: "node-b", SourceAddr: []byte{127, 0, 0, 1}, SourcePort: 9094, SourceNode: "node-a"}))
	show("ping_bare", enc(0, &ping{SeqNo: 300, Node: ""}))
	show("indirect_ping", enc(1, &indirectPingReq{SeqNo: 70000, Target: []byte{10, 0, 0, 2}, Port: 9094, Node: "node-c", Nack: true, SourceAddr: []byte{10, 0, 0, 1}, SourcePort: 9094, SourceNode: "node-a"}))
	show("ack_nil", enc(2, &ackResp{SeqNo: 7}))
	show("ack_empty", enc(2, &ackResp{SeqNo: 7, Payload: []byte{}}))
	show("nack", enc(11, &nackResp{SeqNo: 4294967295}))
	show("err", enc(13, &errResp{Error: "boom"}))
	show("suspect", enc(3, &suspect{Incarnation: 3, Node: "node-b", From: "node-a"}))
	show("alive", enc(4, &alive{Incarnation: 1, Node: "01GXYZ", Addr: []byte{192, 168, 1, 20}, Port: 9094, Meta: []byte{}, Vsn: vsn}))
	long := bytes.Repeat([]byte("x"), 40)
	show("alive_long_meta", enc(4, &alive{Incarnation: 65536, Node: "n", Addr: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, Port: 1, Meta: long, Vsn: vsn}))
	show("dead", enc(5, &dead{Incarnation: 2, Node: "node-b", From: "node-b"}))
	a := enc(0, &ping{SeqNo: 1, Node: "b"})
	s := enc(3, &suspect{Incarnation: 1, Node: "b", From: "a"})
	show("compound", compound(a, s))
	body := compound(a, s)
	c := enc(9, &compress{Algo: 0, Buf: lzwBytes(body)})
	show("compressed_compound", c)
	crc := make([]byte, 5)
	crc[0] = 12
	binary.BigEndian.PutUint32(crc[1:], crc32.ChecksumIEEE(a))
	show("crc_ping", append(crc, a...))
	user := []byte("\x0a\x03sil\x12\x02hi")
	show("user_packet", append([]byte{8}, user...))
	// push/pull stream, uncompressed
	pp := bytes.NewBuffer(nil)
	pp.WriteByte(6)
	pp.Write(enc(255, &pushPullHeader{Nodes: 2, UserStateLen: 3, Join: true}))
	pp.Write(enc(255, &pushNodeState{Name: "node-a", Addr: []byte{10, 0, 0, 1}, Port: 9094, Meta: []byte{}, Incarnation: 1, State: 0, Vsn: vsn}))
	pp.Write(enc(255, &pushNodeState{Name: "node-b", Addr: []byte{10, 0, 0, 2}, Port: 9094, Meta: nil, Incarnation: 5, State: 3, Vsn: vsn}))
	pp.Write([]byte("abc"))
	show("push_pull", pp.Bytes())
	show("push_pull_compressed", enc(9, &compress{Algo: 0, Buf: lzwBytes(pp.Bytes())}))
	us := bytes.NewBuffer(nil)
	us.WriteByte(8)
	us.Write(enc(255, &userMsgHeader{UserMsgLen: len(user)}))
	us.Write(user)
	show("user_stream", us.Bytes())
	show("lzw_empty", lzwBytes(nil))
	show("lzw_text", lzwBytes([]byte("TOBEORNOTTOBEORTOBEORNOT#")))
	big := make([]byte, 20000)
	for i := range big {
		big[i] = byte((i * 7919) % 251)
	}
	show("lzw_big_crc32", []byte(fmt.Sprintf("%08x-%d", crc32.ChecksumIEEE(lzwBytes(big)), len(lzwBytes(big)))))
}
