// Prints golden bytes for tests/unit/cluster_shell/test_wire.py, encoded by Alertmanager
// 0.25's own generated protobuf types (silencepb, nflogpb, clusterpb) and the pbutil
// length-delimited writer its snapshots and broadcasts use. Run (Debian packages golang-go,
// golang-github-prometheus-alertmanager-dev):
//   GO111MODULE=off GOPATH=/tmp/x:/usr/share/gocode go run main.go
package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/matttproud/golang_protobuf_extensions/pbutil"
	"github.com/prometheus/alertmanager/cluster/clusterpb"
	"github.com/prometheus/alertmanager/nflog/nflogpb"
	"github.com/prometheus/alertmanager/silence/silencepb"
)

func show(name string, b []byte) { fmt.Printf("%s %s\n", name, hex.EncodeToString(b)) }

func delimited(m proto.Message) []byte {
	var buf bytes.Buffer
	if _, err := pbutil.WriteDelimited(&buf, m); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func main() {
	t0 := time.Date(2023, 3, 14, 15, 9, 26, 535897000, time.UTC)
	silence := &silencepb.MeshSilence{
		Silence: &silencepb.Silence{
			Id: "4f1a2b3c-0000-4000-8000-000000000001",
			Matchers: []*silencepb.Matcher{
				{Type: silencepb.Matcher_EQUAL, Name: "alertname", Pattern: "HighLatency"},
				{Type: silencepb.Matcher_NOT_REGEXP, Name: "instance", Pattern: "db-.*"},
			},
			StartsAt:  t0,
			EndsAt:    t0.Add(2 * time.Hour),
			UpdatedAt: t0,
			CreatedBy: "alice",
			Comment:   "maintenance ☃",
		},
		ExpiresAt: t0.Add(2*time.Hour + 120*time.Hour),
	}
	show("mesh_silence", must(proto.Marshal(silence)))
	show("mesh_silence_delimited", delimited(silence))

	legacy := &silencepb.MeshSilence{
		Silence: &silencepb.Silence{
			Id:       "x",
			Matchers: []*silencepb.Matcher{{Type: silencepb.Matcher_REGEXP, Name: "a", Pattern: ""}},
			Comments: []*silencepb.Comment{{Author: "bob", Comment: "old style", Timestamp: t0}},
		},
		ExpiresAt: time.Unix(0, 0).UTC(),
	}
	show("mesh_silence_legacy_zero_times", must(proto.Marshal(legacy)))

	entry := &nflogpb.MeshEntry{
		Entry: &nflogpb.Entry{
			GroupKey:       []byte("{}/{env=\"prod\"}:{alertname=\"HighLatency\"}"),
			Receiver:       &nflogpb.Receiver{GroupName: "team-x", Integration: "webhook", Idx: 2},
			GroupHash:      []byte{},
			Resolved:       false,
			Timestamp:      t0,
			FiringAlerts:   []uint64{1, 18446744073709551615, 300},
			ResolvedAlerts: []uint64{7},
		},
		ExpiresAt: t0.Add(10 * time.Hour),
	}
	show("mesh_entry", must(proto.Marshal(entry)))
	show("mesh_entry_delimited", delimited(entry))

	old := &nflogpb.MeshEntry{
		Entry: &nflogpb.Entry{
			GroupKey:  []byte("k"),
			Receiver:  &nflogpb.Receiver{GroupName: "r", Integration: "email"},
			GroupHash: []byte{1, 2, 3},
			Resolved:  true,
			Timestamp: t0,
		},
		ExpiresAt: t0,
	}
	show("mesh_entry_deprecated_fields", must(proto.Marshal(old)))

	part := &clusterpb.Part{Key: "sil", Data: delimited(silence)}
	show("part_sil", must(proto.Marshal(part)))
	full := &clusterpb.FullState{Parts: []clusterpb.Part{
		{Key: "nfl", Data: delimited(entry)},
		{Key: "sil", Data: append(delimited(silence), delimited(legacy)...)},
		{Key: "empty", Data: nil},
	}}
	show("full_state", must(proto.Marshal(full)))
	mm := &clusterpb.MemberlistMessage{Version: "v0.1.0", Kind: clusterpb.MemberlistMessage_PACKET, FromAddr: "127.0.0.1:9094", Msg: []byte{2, 3}}
	show("memberlist_message", must(proto.Marshal(mm)))
}
