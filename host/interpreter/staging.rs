//! What the host received for a guest and holds until the guest takes it:
//! large `bytes` handed over without their encoding, and an answer the
//! guest had no memory to take.

use crate::door::{self, Answer, Fault};
use crate::guest_memory::checked_range;
use crate::ids::HandleId;
use crate::value::format;

/// The payloads and the undelivered answer of one interpreter.
#[derive(Default)]
pub(crate) struct Staging {
    /// The large `bytes` or buffers received for the guest, until it takes
    /// them with [`Op::TakePayload`](door::Op::TakePayload).
    ///
    /// One per channel or queue: a guest that could not take one (no
    /// memory for it) may receive from elsewhere before it asks again. The
    /// last announced is the one [`Op::TakePayload`](door::Op::TakePayload)
    /// takes.
    payloads: Vec<Payload>,
    /// A value received for the guest that it had no memory to take, with
    /// its channel: its next receive on that channel gets it, so that a
    /// memory limit loses no message.
    undelivered: Option<(u64, Answer)>,
}

/// A received lone `bytes` or buffer, handed over without its encoding.
pub(crate) struct Payload {
    /// The channel's receiving end or the queue it came from.
    from: HandleId,
    /// The value's tag, which the guest needs to know what to make of it.
    tag: u8,
    /// The encoded value; the payload starts at `start`.
    message: Vec<u8>,
    start: usize,
}

impl Payload {
    /// `message` as a payload, if it is one lone `bytes` or buffer of
    /// [`door::LARGE_PAYLOAD`] bytes or more.
    pub(crate) fn of(from: HandleId, message: Vec<u8>) -> Result<Payload, Vec<u8>> {
        if message.len() < door::LARGE_PAYLOAD {
            return Err(message);
        }
        // A checked message: its length field is right.
        match format::lone_bytes(&message) {
            Some((tag, start)) => Ok(Payload { from, tag, start, message }),
            None => Err(message),
        }
    }

    /// How the guest hears of it: 2, its tag and its length.
    fn announced(&self) -> Answer {
        // A message is below 4 GiB: MAX_MESSAGE_SIZE.
        Answer::ok().u8(2).u8(self.tag).u32((self.message.len() - self.start) as u32)
    }
}

impl Staging {
    /// A received payload from `from` the guest has not taken yet,
    /// announced again: a receive or get after one that could not take it
    /// (no memory for it) gets it, and nothing is lost.
    pub(crate) fn pending(&mut self, from: HandleId) -> Option<Answer> {
        let at = self.payloads.iter().position(|payload| payload.from == from)?;
        let payload = self.payloads.remove(at);
        Some(self.stage(payload))
    }

    /// Keeps `payload` until the guest takes it, and announces it.
    pub(crate) fn stage(&mut self, payload: Payload) -> Answer {
        let announced = payload.announced();
        self.payloads.push(payload);
        announced
    }

    /// Writes the last announced payload where the guest asks
    /// ([`Op::TakePayload`](door::Op::TakePayload)): into the `bytes` it
    /// made for it, `len` bytes at `at`.
    pub(crate) fn take(&mut self, memory: &mut [u8], at: u32, len: u32) -> Result<Answer, Fault> {
        let payload = self.payloads.last().ok_or_else(|| Fault::invalid("no payload to take"))?;
        let data = &payload.message[payload.start..];
        if data.len() != len as usize {
            return Err(Fault::invalid(format!("a payload of {} bytes taken as {len}", data.len())));
        }
        let range = checked_range(at, len, memory.len())
            .ok_or_else(|| Fault::invalid("a place for a payload outside the guest's memory"))?;
        memory[range].copy_from_slice(data);
        self.payloads.pop();
        Ok(Answer::ok())
    }

    /// Keeps `answer`, received on `channel`, for the guest's next receive
    /// there: it had no memory to take it now.
    pub(crate) fn keep_undelivered(&mut self, channel: u64, answer: Answer) {
        self.undelivered = Some((channel, answer));
    }

    /// The answer kept for a receive on `channel`, if any.
    pub(crate) fn take_undelivered(&mut self, channel: u64) -> Option<Answer> {
        match &self.undelivered {
            Some((kept, _)) if *kept == channel => self.undelivered.take().map(|(_, answer)| answer),
            _ => None,
        }
    }
}
