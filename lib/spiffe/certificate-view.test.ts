import { beforeAll, describe, expect, it } from "vitest";
import { TestCa } from "../../test/helpers/test-ca.js";
import { x509 } from "../x509.js";
import { DerError } from "../der/errors.js";
import { readCertificateView } from "./certificate-view.js";
import { SvidError, SvidErrorCode } from "./errors.js";
import { checkIssuedSvid, checkLeafSvid } from "./svid.js";
import { thrownCode } from "../../test/helpers/error-code.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const ID = "spiffe://example.org/ns/shop/sa/orders";

// ---- a tiny DER writer, to build certificates no library would produce ----

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ""), "hex");

function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

const seq = (...c: Uint8Array[]): Buffer => tlv(0x30, ...c);
const utc = (s: string): Buffer => tlv(0x17, Buffer.from(s));
const oid = (h: string): Buffer => tlv(0x06, hex(h));
const OID_SAN = "551d11";
const OID_KU = "551d0f";
const OID_BC = "551d13";
const OID_EKU = "551d25";

/** An Extension; `critical` "explicit-false" writes the DEFAULT value DER says to omit. */
function ext(oidHex: string, value: Uint8Array, critical: boolean | "explicit-false" | Buffer = false): Buffer {
  const flag = critical === true ? tlv(0x01, hex("ff")) : critical === "explicit-false" ? tlv(0x01, hex("00")) : Buffer.isBuffer(critical) ? critical : Buffer.alloc(0);
  return seq(oid(oidHex), flag, tlv(0x04, value));
}

const uriSan = (...uris: string[]): Buffer => seq(...uris.map((u) => tlv(0x86, Buffer.from(u))));

interface Parts {
  version?: Buffer | null;
  serial?: Buffer;
  validity?: Buffer;
  subject?: Buffer;
  extensions?: Buffer[] | null;
  afterExtensions?: Buffer;
}

/** A structurally complete certificate with a dummy signature: the view does not verify signatures. */
function certificate(p: Parts = {}): Uint8Array {
  const extensions = p.extensions === null ? Buffer.alloc(0) : tlv(0xa3, seq(...(p.extensions ?? [ext(OID_SAN, uriSan(ID), true)])));
  const tbs = seq(
    p.version === null ? Buffer.alloc(0) : (p.version ?? tlv(0xa0, tlv(0x02, hex("02")))),
    p.serial ?? tlv(0x02, hex("01" + "ab".repeat(16))),
    seq(oid("2a8648ce3d040302")),
    seq(),
    p.validity ?? seq(utc("291231000000Z"), utc("300101120000Z")),
    p.subject ?? seq(),
    seq(seq(oid("2a8648ce3d0201")), tlv(0x03, hex("00 04"))),
    extensions,
    p.afterExtensions ?? Buffer.alloc(0),
  );
  return new Uint8Array(seq(tbs, seq(oid("2a8648ce3d040302")), tlv(0x03, hex("00 3000"))));
}

const outcome = (fn: () => unknown): string => thrownCode(SvidError, fn);

describe("readCertificateView on test CA certificates", () => {
  it("reads every field the checks use from a good SVID", async () => {
    const root = await TestCa.create({ notBefore: new Date(NOW.getTime() - 3600_000) });
    const svid = await root.issue(ID, { notBefore: new Date("2029-12-31T23:59:30Z"), lifetimeMs: 3600_000, serialHex: "01" + "cd".repeat(16), dnsNames: ["orders.local"] });
    const view = readCertificateView(new Uint8Array(svid.cert.rawData));
    expect(Buffer.from(view.serial).toString("hex")).toBe("01" + "cd".repeat(16));
    expect(new Date(view.notBefore).toISOString()).toBe("2029-12-31T23:59:30.000Z");
    expect(new Date(view.notAfter).toISOString()).toBe("2030-01-01T00:59:30.000Z");
    expect(view.subjectEmpty).toBe(true);
    expect(view.san).toEqual({ critical: true, uris: [ID], otherNames: 1 });
    expect(view.basicConstraints).toEqual({ critical: true, ca: false });
    expect(view.keyUsage).toEqual({ critical: true, flags: x509.KeyUsageFlags.digitalSignature });
    expect(view.extendedKeyUsage).toEqual({ critical: false, oids: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"] });
    expect([view.hasSubjectKeyId, view.hasAuthorityKeyId]).toEqual([true, true]);
    const rootView = readCertificateView(new Uint8Array(root.cert.rawData));
    expect(rootView.subjectEmpty).toBe(false);
    expect(rootView.basicConstraints?.ca).toBe(true);
    expect(rootView.keyUsage?.flags).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  });
});

describe("readCertificateView on hand-built DER", () => {
  it("reads a minimal certificate", () => {
    const view = readCertificateView(certificate());
    expect(view.san?.uris).toEqual([ID]);
    expect(view.notAfter).toBe(Date.parse("2030-01-01T12:00:00Z"));
    expect(view.keyUsage).toBeUndefined();
  });

  it("reads the bits of KeyUsage in RFC 5280 order, decipherOnly included", () => {
    const ku = (bits: string): number | undefined => readCertificateView(certificate({ extensions: [ext(OID_KU, tlv(0x03, hex(bits)), true)] })).keyUsage?.flags;
    expect(ku("07 80")).toBe(1); // digitalSignature
    expect(ku("01 86")).toBe(1 | 32 | 64); // + keyCertSign, cRLSign
    expect(ku("07 00 80")).toBe(256); // decipherOnly, bit 8
    expect(ku("00")).toBe(0);
  });

  it("accepts an explicitly encoded critical FALSE and cA FALSE, as OpenSSL and Go do", () => {
    const view = readCertificateView(certificate({ extensions: [ext(OID_BC, seq(tlv(0x01, hex("00"))), "explicit-false"), ext(OID_SAN, uriSan(ID), true)] }));
    expect(view.basicConstraints).toEqual({ critical: false, ca: false });
  });

  it("reads a version 1 certificate without extensions, and a pathLenConstraint", () => {
    expect(readCertificateView(certificate({ version: null, extensions: null })).san).toBeUndefined();
    const bc = seq(tlv(0x01, hex("ff")), tlv(0x02, hex("00")));
    expect(readCertificateView(certificate({ extensions: [ext(OID_BC, bc, true)] })).basicConstraints).toEqual({ critical: true, ca: true });
  });

  it("counts SAN names that are not URIs", () => {
    const san = seq(tlv(0x82, Buffer.from("a.example")), tlv(0x87, hex("7f000001")), tlv(0x86, Buffer.from(ID)), tlv(0x81, Buffer.from("a@b")));
    expect(readCertificateView(certificate({ extensions: [ext(OID_SAN, san, true)] })).san).toEqual({ critical: true, uris: [ID], otherNames: 3 });
  });

  it("reports a duplicate extension only after every extension decoded", () => {
    const twice = [ext(OID_SAN, uriSan(ID), true), ext(OID_SAN, uriSan("spiffe://example.org/admin"), true)];
    expect(outcome(() => readCertificateView(certificate({ extensions: twice })))).toBe(SvidErrorCode.DUPLICATE_EXTENSION);
    const alsoBroken = [...twice, ext(OID_BC, hex("04 00"), true)];
    expect(outcome(() => readCertificateView(certificate({ extensions: alsoBroken })))).toBe(SvidErrorCode.MALFORMED);
  });

  it.each<[string, Parts]>([
    ["a critical flag that is not 00 or FF", { extensions: [ext(OID_SAN, uriSan(ID), tlv(0x01, hex("01")))] }],
    ["an unknown version (v4)", { version: tlv(0xa0, tlv(0x02, hex("03"))) }],
    ["extensions in a version 1 certificate", { version: null }],
    ["extensions in a version 2 certificate", { version: tlv(0xa0, tlv(0x02, hex("01"))) }],
    ["an empty serial", { serial: tlv(0x02, Buffer.alloc(0)) }],
    ["a validity with three times", { validity: seq(utc("291231000000Z"), utc("300101120000Z"), utc("300101120000Z")) }],
    ["a validity with one time", { validity: seq(utc("291231000000Z")) }],
    ["a local time", { validity: seq(utc("2912310000+0100"), utc("300101120000Z")) }],
    ["a field after the extensions", { afterExtensions: tlv(0x05, Buffer.alloc(0)) }],
    ["an empty extensions wrapper", { extensions: [] as Buffer[] }],
    ["a SAN value with a trailing byte", { extensions: [ext(OID_SAN, Buffer.concat([uriSan(ID), hex("00")]), true)] }],
    ["a SAN that is not a SEQUENCE", { extensions: [ext(OID_SAN, tlv(0x31, tlv(0x86, Buffer.from(ID))), true)] }],
    ["an unknown GeneralName tag", { extensions: [ext(OID_SAN, seq(tlv(0x89, hex("00"))), true)] }],
    ["a URI that is not ASCII", { extensions: [ext(OID_SAN, seq(tlv(0x86, Buffer.from("spiffe://example.org/é"))), true)] }],
    ["KeyUsage with non-zero unused bits", { extensions: [ext(OID_KU, tlv(0x03, hex("07 81")), true)] }],
    ["BasicConstraints with a trailing field", { extensions: [ext(OID_BC, seq(tlv(0x01, hex("ff")), tlv(0x02, hex("00")), tlv(0x05, Buffer.alloc(0))), true)] }],
    ["an EKU holding a non-OID", { extensions: [ext(OID_EKU, seq(tlv(0x04, hex("00"))), false)] }],
    ["an extension with a fourth field", { extensions: [seq(oid(OID_SAN), tlv(0x01, hex("ff")), tlv(0x04, uriSan(ID)), tlv(0x05, Buffer.alloc(0)))] }],
    ["an extension value that is not an OCTET STRING", { extensions: [seq(oid(OID_SAN), tlv(0x30, uriSan(ID)))] }],
  ])("refuses %s as SVID_MALFORMED", (_name, parts) => {
    expect(outcome(() => readCertificateView(certificate(parts)))).toBe(SvidErrorCode.MALFORMED);
  });

  it("refuses trailing bytes after the certificate and anything that is not one", () => {
    const good = certificate();
    expect(outcome(() => readCertificateView(new Uint8Array([...good, 0])))).toBe(SvidErrorCode.MALFORMED);
    expect(outcome(() => readCertificateView(new Uint8Array(0)))).toBe(SvidErrorCode.MALFORMED);
    expect(outcome(() => readCertificateView(new Uint8Array(Buffer.from("-----BEGIN CERTIFICATE-----"))))).toBe(SvidErrorCode.MALFORMED);
  });

  it("turns the DER reader's DER_MALFORMED into SVID_MALFORMED, keeping the reader's message", () => {
    const indefinite = new Uint8Array([0x30, 0x80, 0x00, 0x00]);
    expect(outcome(() => readCertificateView(indefinite))).toBe(SvidErrorCode.MALFORMED);
    expect(() => readCertificateView(indefinite)).toThrow(/^certificate is not valid DER: indefinite length \(byte 0\)$/);
    expect(() => readCertificateView(indefinite)).not.toThrow(DerError);
  });

  it("makes the SVID checks refuse a non-minimal serial, as OpenSSL does", () => {
    const cert = certificate({
      serial: tlv(0x02, hex("00 01" + "ab".repeat(16))),
      extensions: [ext(OID_SAN, uriSan(ID), true), ext(OID_KU, tlv(0x03, hex("07 80")), true)],
    });
    expect(outcome(() => checkLeafSvid(cert, { now: NOW }))).toBe(SvidErrorCode.MALFORMED);
  });
});

/** A small deterministic generator (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("readCertificateView under fuzzing", () => {
  const samples: Uint8Array[] = [];

  beforeAll(async () => {
    const root = await TestCa.create({ notBefore: new Date(NOW.getTime() - 3600_000) });
    const inter = await root.intermediate({ keyAlgorithm: "rsa-2048", notBefore: new Date(NOW.getTime() - 3600_000) });
    const leaf = { notBefore: new Date(NOW.getTime() - 30_000), lifetimeMs: 3600_000 };
    samples.push(
      new Uint8Array((await root.issue(ID, leaf)).cert.rawData),
      new Uint8Array((await inter.issue(ID, { ...leaf, subject: "CN=orders", sanCritical: false, dnsNames: ["a.local"] })).cert.rawData),
      new Uint8Array(root.cert.rawData),
      new Uint8Array(inter.cert.rawData),
    );
  });

  /** Runs the reader and both checks; only a view, an accepted ID or an SvidError may come out. */
  function survive(der: Uint8Array): string {
    const codes = new Set<string>();
    for (const fn of [
      () => readCertificateView(der),
      () => checkLeafSvid(der, { now: NOW }),
      () => checkIssuedSvid(der, { now: NOW }),
    ]) {
      try {
        fn();
        codes.add("accepted");
      } catch (err) {
        if (!(err instanceof SvidError)) throw new Error(`input ${Buffer.from(der).toString("hex")} threw ${String(err)}`);
        codes.add(err.code);
      }
    }
    return [...codes].join(",");
  }

  it("refuses every truncation of a real certificate as SVID_MALFORMED", () => {
    for (const der of samples) {
      for (let n = 0; n < der.length; n++) {
        expect(outcome(() => readCertificateView(der.subarray(0, n)))).toBe(SvidErrorCode.MALFORMED);
      }
    }
  });

  it("refuses a real certificate with bytes appended, and one cut short inside", () => {
    const rand = prng(7);
    for (const der of samples) {
      for (let i = 0; i < 50; i++) {
        const extra = new Uint8Array(1 + Math.floor(rand() * 8)).map(() => Math.floor(rand() * 256));
        expect(outcome(() => readCertificateView(new Uint8Array([...der, ...extra])))).toBe(SvidErrorCode.MALFORMED);
        const at = 1 + Math.floor(rand() * (der.length - 2));
        expect(outcome(() => readCertificateView(new Uint8Array([...der.subarray(0, at), ...der.subarray(at + 1)])))).toBe(SvidErrorCode.MALFORMED);
      }
    }
  });

  it("never crashes on single bit flips, and calls broken structure malformed", () => {
    const rand = prng(1);
    const seen = new Map<string, number>();
    for (const der of samples) {
      for (let i = 0; i < 1500; i++) {
        const copy = new Uint8Array(der);
        const at = Math.floor(rand() * copy.length);
        copy[at] = (copy[at] as number) ^ (1 << Math.floor(rand() * 8));
        const result = survive(copy);
        seen.set(result, (seen.get(result) ?? 0) + 1);
      }
    }
    // A flip in a key, a signature or a name leaves valid DER; most flips elsewhere break it.
    expect(seen.get(SvidErrorCode.MALFORMED) ?? 0).toBeGreaterThan(500);
    expect([...seen.keys()].some((k) => k.includes("accepted"))).toBe(true);
  });

  it("never crashes on random bytes written over length octets, tags and content", () => {
    const rand = prng(2);
    for (const der of samples) {
      for (let i = 0; i < 1500; i++) {
        const copy = new Uint8Array(der);
        const writes = 1 + Math.floor(rand() * 4);
        for (let w = 0; w < writes; w++) {
          const pick = rand();
          // Bias toward the bytes that steer a DER walk: 0x80 (indefinite), 0x84-0x8f (huge), 0xff.
          copy[Math.floor(rand() * copy.length)] = pick < 0.3 ? 0x80 : pick < 0.5 ? 0x84 + Math.floor(rand() * 12) : pick < 0.6 ? 0xff : Math.floor(rand() * 256);
        }
        survive(copy);
      }
    }
  });

  it("refuses random garbage as SVID_MALFORMED", () => {
    const rand = prng(3);
    for (let i = 0; i < 2000; i++) {
      const garbage = new Uint8Array(Math.floor(rand() * 64)).map(() => Math.floor(rand() * 256));
      if (i % 2 === 0 && garbage.length > 2) garbage[0] = 0x30; // look like a SEQUENCE to get further in
      expect(outcome(() => readCertificateView(garbage))).toBe(SvidErrorCode.MALFORMED);
    }
  });
});
