//! The operator's requests in the model: `startbu`, `endbu`, `-stat` and `-check` as an
//! embedding application makes them (the engine's API) or as `butil` delivers them to a
//! running application's engine (generation 16: the admin endpoint's wire format and
//! `Engine::admin`, without the socket), each judged the same.

use super::world::{fault_status, World};
use rand::Rng;

impl World {
    /// An operator's request. From generation 16 half of them arrive as `butil` sends
    /// them to a running application's engine ([`admin_reply`](Self::admin_reply)); the
    /// rest call the engine directly (`direct`), as an embedding application does.
    /// Either way the result is judged the same.
    pub(super) fn operator(
        &mut self,
        req: engine::admin::Request,
        direct: impl FnOnce(&mut engine::Engine) -> engine::Result<()>,
    ) -> Result<engine::Result<()>, String> {
        if self.workload < 16 || self.sched.rng.random_bool(0.5) {
            return Ok(direct(self.rig.engine_mut()?));
        }
        let (reply, outcome) = self.admin_reply(&req)?;
        Ok(outcome
            .map_err(|status| engine::Error::new(status, reply.stderr.trim_end().to_string())))
    }

    /// `req` as `butil` delivers it to a running application's engine: encoded,
    /// decoded, run by `Engine::admin` — the code path the admin socket serves, without
    /// the socket — and the reply encoded and decoded again. A reply must be
    /// self-consistent: status 0 exactly when its exit code is 0 and it printed no
    /// error, and otherwise a Btrieve status (returned as the outcome) that its error
    /// text names.
    fn admin_reply(
        &mut self,
        req: &engine::admin::Request,
    ) -> Result<(engine::admin::Reply, Result<(), engine::Status>), String> {
        use engine::admin::{decode_reply, decode_request, encode_reply, encode_request};
        let what = format!("admin request {req:?}");
        let bytes = encode_request(req).ok_or_else(|| format!("{what}: does not encode"))?;
        let decoded =
            decode_request(&bytes).map_err(|e| format!("{what}: does not decode: {e}"))?;
        if decoded != *req {
            return Err(format!("{what}: decodes as {decoded:?}"));
        }
        let reply = self.rig.engine_mut()?.admin(&decoded);
        let reply = decode_reply(&encode_reply(&reply))
            .map_err(|e| format!("{what}: its reply does not decode: {e}"))?;
        self.tally.admin_requests += 1;
        let consistent = if reply.status == 0 {
            reply.exit_code == 0 && reply.stderr.is_empty()
        } else {
            reply.exit_code != 0 && reply.stderr.contains(&reply.status.to_string())
        };
        if !consistent {
            return Err(format!(
                "{what}: status {} with exit code {} and error text {:?}",
                reply.status, reply.exit_code, reply.stderr
            ));
        }
        let outcome = match reply.status {
            0 => Ok(()),
            code => Err(engine::Status::from_code(code)
                .ok_or_else(|| format!("{what}: reply status {code} is no Btrieve status"))?),
        };
        Ok((reply, outcome))
    }

    /// A failed admin request `what` on `path`: acceptable only with a fault status an
    /// injected fault explains.
    fn admin_failed(
        &mut self,
        what: &str,
        path: &std::path::Path,
        status: engine::Status,
        reply: &engine::admin::Reply,
    ) -> Result<(), String> {
        if !fault_status(status) {
            return Err(format!(
                "{what} {}: status {}: {}",
                path.display(),
                status.code(),
                reply.stderr
            ));
        }
        self.explain(what, status)
    }

    /// Generation 17: after a startbu, the operator asks the engine for `-stat` of file
    /// `f` through the admin path; the record count it prints must be the model's (no
    /// transaction holds a file of a startbu set, so every client sees the same records).
    pub(super) fn operator_stat(&mut self, f: usize) -> Result<(), String> {
        let path = self.model.files[f].path.clone();
        let (reply, outcome) =
            self.admin_reply(&engine::admin::Request::Stat { path: path.clone() })?;
        if let Err(status) = outcome {
            return self.admin_failed("admin -stat", &path, status, &reply);
        }
        let want = self.model.files[f].live.len();
        let said = reply
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("# records: "))
            .and_then(|n| n.trim().parse::<usize>().ok());
        if said != Some(want) {
            return Err(format!(
                "invariant 8 / read check: admin -stat {} says {said:?} records, the model holds {want}",
                path.display()
            ));
        }
        Ok(())
    }

    /// Generation 17: after an endbu, the operator runs `-check` of file `f` through
    /// the admin path (the engine flushes, then checks its own open file): it must pass,
    /// or fail with a status an injected fault explains. Its flush acknowledges what was
    /// pending, like any flush.
    pub(super) fn operator_check(&mut self, f: usize) -> Result<(), String> {
        let path = self.model.files[f].path.clone();
        if self.model.clients.holder(f).is_some() {
            return Ok(());
        }
        let (reply, outcome) =
            self.admin_reply(&engine::admin::Request::Check { path: path.clone() })?;
        match outcome {
            Ok(()) => {
                self.flushed();
                Ok(())
            }
            Err(status) => self.admin_failed("admin -check", &path, status, &reply),
        }
    }
}
