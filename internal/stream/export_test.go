package stream

import "fmt"

// StateForTest describes the endpoint's internal state, for failure messages.
func (e *Endpoint) StateForTest() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := fmt.Sprintf("gen=%d trDown=%v paused=%v closing=%v closed=%v outHead=%d nextSend=%d nextSeq=%d outCount=%d expected=%d inbox=%d/%d ooo=%d acks=%d cumSet=%v rto=%v",
		e.gen, e.trDown, e.paused, e.closing, e.closed, e.outHead, e.nextSend, e.nextSeq, e.outCount, e.expected, e.inboxHead, len(e.inbox), len(e.ooo), len(e.acks), e.cumSet, e.rtt.rto)
	for seq := e.outHead; seq < e.nextSeq; seq++ {
		en := e.out.at(int(seq - e.outHead))
		s += fmt.Sprintf("\n  seq %d acked=%v resends=%d lastSent=%v", seq, en.acked, en.resends, en.lastSent.Format("15:04:05.000"))
	}
	return s
}
