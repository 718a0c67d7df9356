// A request → answer round trip between two agents broken down by hop (issue 30 item 4): taps on
// the subjects it crosses. The verifier's identity sees agentbus.part.> (what agents publish,
// after the partition mapping); each agent's own user sees its deliveries. One operation at a
// time, so the latest time each tap saw is this operation's.
import type { TestBus } from '../test/helpers/bus.js';

export interface HopTimes {
  /** The caller signs and publishes its request (→ the server). */
  send: number[];
  /** The verifier checks the request, commits its audit event, forwards. */
  verifierRequest: number[];
  /** The service: its client's inbound check and decode, its work, sealing and publishing the answer. */
  service: number[];
  /** The verifier checks the answer, commits, forwards. */
  verifierAnswer: number[];
  /** The caller's client verifies and decodes the answer. */
  client: number[];
  total: number[];
}

export async function hopTaps(bus: TestBus, caller: string, service: string) {
  const tap = { req: 0, fwdReq: 0, res: 0, fwdRes: 0 };
  const admin = await bus.admin();
  admin.subscribe('agentbus.part.>', {
    callback: (_e, msg) => {
      if (msg.subject.endsWith(`.${caller}`)) tap.req = performance.now();
      else if (msg.subject.endsWith(`.${service}`)) tap.res = performance.now();
    },
  });
  const svcTap = await bus.rawAgent(service);
  svcTap.subscribe(`agentbus.to.${service}.>`, { callback: () => void (tap.fwdReq = performance.now()) });
  const callerTap = await bus.rawAgent(caller);
  callerTap.subscribe(`agentbus.to.${caller}.>`, { callback: () => void (tap.fwdRes = performance.now()) });
  await Promise.all([admin.flush(), svcTap.flush(), callerTap.flush()]);
  const hops: HopTimes = { send: [], verifierRequest: [], service: [], verifierAnswer: [], client: [], total: [] };
  return {
    hops,
    /** Time one operation; counted when every tap came in order. */
    async measure(op: () => Promise<unknown>): Promise<void> {
      const t = performance.now();
      await op();
      const end = performance.now();
      if (!(t < tap.req && tap.req <= tap.fwdReq && tap.fwdReq <= tap.res && tap.res <= tap.fwdRes && tap.fwdRes <= end)) return;
      hops.send.push(tap.req - t);
      hops.verifierRequest.push(tap.fwdReq - tap.req);
      hops.service.push(tap.res - tap.fwdReq);
      hops.verifierAnswer.push(tap.fwdRes - tap.res);
      hops.client.push(end - tap.fwdRes);
      hops.total.push(end - t);
    },
    close: () => Promise.all([admin.close(), svcTap.close(), callerTap.close()]),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** The medians as figures `<prefix>_hop_<name>_ms` (they need not add up to the median total). */
export function hopFigures(prefix: string, what: string, h: HopTimes): { name: string; value: number; unit: string }[] {
  const unit = `ms, median over ${h.total.length} ${what} with every tap in order`;
  return [
    { name: `${prefix}_hop_send_ms`, value: median(h.send), unit: `${unit}: the caller signs and publishes` },
    { name: `${prefix}_hop_verifier_request_ms`, value: median(h.verifierRequest), unit: `${unit}: the verifier checks the request, commits, forwards` },
    { name: `${prefix}_hop_service_ms`, value: median(h.service), unit: `${unit}: the service checks, does the work, seals and publishes the answer` },
    { name: `${prefix}_hop_verifier_answer_ms`, value: median(h.verifierAnswer), unit: `${unit}: the verifier checks the answer, commits, forwards` },
    { name: `${prefix}_hop_client_ms`, value: median(h.client), unit: `${unit}: the caller's client verifies and decodes the answer` },
  ];
}
