/**
 * The tag bytes (class, constructed bit and number) of the ASN.1 universal
 * types met in certificates and CSRs, shared by the reader here and the CA's
 * writer. Context-specific tags ([0], [3], GeneralName choices) belong to
 * one structure each and are named where that structure is read or written.
 */
export const DerTag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;
