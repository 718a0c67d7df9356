import * as $protobuf from "protobufjs";
import Long = require("long");

/** Namespace agentbus. */
export namespace agentbus {

    /** Namespace v1. */
    namespace v1 {

        /**
         * Properties of an Envelope.
         * @deprecated Use agentbus.v1.Envelope.$Properties instead.
         */
        interface IEnvelope extends agentbus.v1.Envelope.$Properties {
        }

        /** Represents an Envelope. */
        class Envelope {

            /**
             * Constructs a new Envelope.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.Envelope.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** Envelope header. */
            header: Uint8Array;

            /** Envelope payload. */
            payload: Uint8Array;

            /** Envelope signature. */
            signature: Uint8Array;

            /**
             * Creates a new Envelope instance using the specified properties.
             * @param [properties] Properties to set
             * @returns Envelope instance
             */
            static create(properties: agentbus.v1.Envelope.$Shape): agentbus.v1.Envelope & agentbus.v1.Envelope.$Shape;
            static create(properties?: agentbus.v1.Envelope.$Properties): agentbus.v1.Envelope;

            /**
             * Encodes the specified Envelope message. Does not implicitly {@link agentbus.v1.Envelope.verify|verify} messages.
             * @param m Envelope message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.Envelope.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes an Envelope message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.Envelope & agentbus.v1.Envelope.$Shape} Envelope
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.Envelope & agentbus.v1.Envelope.$Shape;

            /**
             * Gets the type url for Envelope
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace Envelope {

            /** Properties of an Envelope. */
            interface $Properties {

                /** Envelope header */
                header?: (Uint8Array|null);

                /** Envelope payload */
                payload?: (Uint8Array|null);

                /** Envelope signature */
                signature?: (Uint8Array|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of an Envelope. */
            type $Shape = agentbus.v1.Envelope.$Properties;
        }

        /**
         * Properties of a Header.
         * @deprecated Use agentbus.v1.Header.$Properties instead.
         */
        interface IHeader extends agentbus.v1.Header.$Properties {
        }

        /** Represents a Header. */
        class Header {

            /**
             * Constructs a new Header.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.Header.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** Header sender. */
            sender: string;

            /** Header keyId. */
            keyId: string;

            /** Header recipient. */
            recipient: string;

            /** Header topic. */
            topic: string;

            /** Header type. */
            type: string;

            /** Header msgId. */
            msgId: Uint8Array;

            /** Header sentAtMs. */
            sentAtMs: number;

            /** Header payloadSha256. */
            payloadSha256: Uint8Array;

            /** Header contentType. */
            contentType: string;

            /** Header traceId. */
            traceId: Uint8Array;

            /** Header spanId. */
            spanId: Uint8Array;

            /** Header causationId. */
            causationId: Uint8Array;

            /** Header depth. */
            depth: number;

            /** Header metadata. */
            metadata: { [k: string]: string };

            /**
             * Creates a new Header instance using the specified properties.
             * @param [properties] Properties to set
             * @returns Header instance
             */
            static create(properties: agentbus.v1.Header.$Shape): agentbus.v1.Header & agentbus.v1.Header.$Shape;
            static create(properties?: agentbus.v1.Header.$Properties): agentbus.v1.Header;

            /**
             * Encodes the specified Header message. Does not implicitly {@link agentbus.v1.Header.verify|verify} messages.
             * @param m Header message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.Header.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes a Header message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.Header & agentbus.v1.Header.$Shape} Header
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.Header & agentbus.v1.Header.$Shape;

            /**
             * Gets the type url for Header
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace Header {

            /** Properties of a Header. */
            interface $Properties {

                /** Header sender */
                sender?: (string|null);

                /** Header keyId */
                keyId?: (string|null);

                /** Header recipient */
                recipient?: (string|null);

                /** Header topic */
                topic?: (string|null);

                /** Header type */
                type?: (string|null);

                /** Header msgId */
                msgId?: (Uint8Array|null);

                /** Header sentAtMs */
                sentAtMs?: (number|null);

                /** Header payloadSha256 */
                payloadSha256?: (Uint8Array|null);

                /** Header contentType */
                contentType?: (string|null);

                /** Header traceId */
                traceId?: (Uint8Array|null);

                /** Header spanId */
                spanId?: (Uint8Array|null);

                /** Header causationId */
                causationId?: (Uint8Array|null);

                /** Header depth */
                depth?: (number|null);

                /** Header metadata */
                metadata?: ({ [k: string]: string }|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of a Header. */
            type $Shape = agentbus.v1.Header.$Properties;
        }

        /** Verdict enum. */
        enum Verdict {

            /** VERDICT_UNSPECIFIED value */
            VERDICT_UNSPECIFIED = 0,

            /** VERDICT_ACCEPTED value */
            VERDICT_ACCEPTED = 1,

            /** VERDICT_REJECTED value */
            VERDICT_REJECTED = 2,

            /** VERDICT_DUPLICATE value */
            VERDICT_DUPLICATE = 3
        }

        /** Reason enum. */
        enum Reason {

            /** REASON_UNSPECIFIED value */
            REASON_UNSPECIFIED = 0,

            /** REASON_MALFORMED value */
            REASON_MALFORMED = 1,

            /** REASON_UNKNOWN_SENDER value */
            REASON_UNKNOWN_SENDER = 2,

            /** REASON_UNKNOWN_KEY value */
            REASON_UNKNOWN_KEY = 3,

            /** REASON_REVOKED_KEY value */
            REASON_REVOKED_KEY = 4,

            /** REASON_EXPIRED_KEY value */
            REASON_EXPIRED_KEY = 5,

            /** REASON_BAD_SIGNATURE value */
            REASON_BAD_SIGNATURE = 6,

            /** REASON_SENDER_MISMATCH value */
            REASON_SENDER_MISMATCH = 7,

            /** REASON_PAYLOAD_HASH_MISMATCH value */
            REASON_PAYLOAD_HASH_MISMATCH = 8,

            /** REASON_STALE_TIMESTAMP value */
            REASON_STALE_TIMESTAMP = 9,

            /** REASON_FUTURE_TIMESTAMP value */
            REASON_FUTURE_TIMESTAMP = 10,

            /** REASON_REPLAY value */
            REASON_REPLAY = 11,

            /** REASON_DESTINATION_NOT_ALLOWED value */
            REASON_DESTINATION_NOT_ALLOWED = 12,

            /** REASON_TYPE_NOT_ALLOWED value */
            REASON_TYPE_NOT_ALLOWED = 13,

            /** REASON_SCHEMA_INVALID value */
            REASON_SCHEMA_INVALID = 14,

            /** REASON_PAYLOAD_TOO_LARGE value */
            REASON_PAYLOAD_TOO_LARGE = 15,

            /** REASON_RATE_LIMITED value */
            REASON_RATE_LIMITED = 16,

            /** REASON_DEPTH_EXCEEDED value */
            REASON_DEPTH_EXCEEDED = 17,

            /** REASON_UNKNOWN_RECIPIENT value */
            REASON_UNKNOWN_RECIPIENT = 18,

            /** REASON_METADATA_MISSING value */
            REASON_METADATA_MISSING = 19,

            /** REASON_BAD_REPLY_SUBJECT value */
            REASON_BAD_REPLY_SUBJECT = 20,

            /** REASON_UNKNOWN_TYPE value */
            REASON_UNKNOWN_TYPE = 21,

            /** REASON_METADATA_NOT_ALLOWED value */
            REASON_METADATA_NOT_ALLOWED = 22,

            /** REASON_BAD_CAUSATION value */
            REASON_BAD_CAUSATION = 23,

            /** REASON_REJECTION_BUDGET_EXCEEDED value */
            REASON_REJECTION_BUDGET_EXCEEDED = 24,

            /** REASON_TOOL_NOT_ALLOWED value */
            REASON_TOOL_NOT_ALLOWED = 25,

            /** REASON_ARGUMENT_REFUSED value */
            REASON_ARGUMENT_REFUSED = 26,

            /** REASON_APPROVAL_DENIED value */
            REASON_APPROVAL_DENIED = 27,

            /** REASON_APPROVAL_TIMEOUT value */
            REASON_APPROVAL_TIMEOUT = 28,

            /** REASON_CREDENTIAL_DETECTED value */
            REASON_CREDENTIAL_DETECTED = 29,

            /** REASON_INVISIBLE_TEXT value */
            REASON_INVISIBLE_TEXT = 30,

            /** REASON_CONTROL_CHARS value */
            REASON_CONTROL_CHARS = 31,

            /** REASON_MEMORY_NOT_ALLOWED value */
            REASON_MEMORY_NOT_ALLOWED = 32
        }

        /**
         * Properties of an Ack.
         * @deprecated Use agentbus.v1.Ack.$Properties instead.
         */
        interface IAck extends agentbus.v1.Ack.$Properties {
        }

        /** Represents an Ack. */
        class Ack {

            /**
             * Constructs a new Ack.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.Ack.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** Ack verdict. */
            verdict: agentbus.v1.Verdict;

            /** Ack reason. */
            reason: agentbus.v1.Reason;

            /** Ack msgId. */
            msgId: Uint8Array;

            /** Ack detail. */
            detail: string;

            /** Ack depth. */
            depth: number;

            /** Ack verifierId. */
            verifierId: string;

            /** Ack delivery. */
            delivery: agentbus.v1.Delivery;

            /**
             * Creates a new Ack instance using the specified properties.
             * @param [properties] Properties to set
             * @returns Ack instance
             */
            static create(properties: agentbus.v1.Ack.$Shape): agentbus.v1.Ack & agentbus.v1.Ack.$Shape;
            static create(properties?: agentbus.v1.Ack.$Properties): agentbus.v1.Ack;

            /**
             * Encodes the specified Ack message. Does not implicitly {@link agentbus.v1.Ack.verify|verify} messages.
             * @param m Ack message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.Ack.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes an Ack message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.Ack & agentbus.v1.Ack.$Shape} Ack
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.Ack & agentbus.v1.Ack.$Shape;

            /**
             * Gets the type url for Ack
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace Ack {

            /** Properties of an Ack. */
            interface $Properties {

                /** Ack verdict */
                verdict?: (agentbus.v1.Verdict|null);

                /** Ack reason */
                reason?: (agentbus.v1.Reason|null);

                /** Ack msgId */
                msgId?: (Uint8Array|null);

                /** Ack detail */
                detail?: (string|null);

                /** Ack depth */
                depth?: (number|null);

                /** Ack verifierId */
                verifierId?: (string|null);

                /** Ack delivery */
                delivery?: (agentbus.v1.Delivery|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of an Ack. */
            type $Shape = agentbus.v1.Ack.$Properties;
        }

        /** Delivery enum. */
        enum Delivery {

            /** DELIVERY_UNSPECIFIED value */
            DELIVERY_UNSPECIFIED = 0,

            /** DELIVERY_CONFIRMED value */
            DELIVERY_CONFIRMED = 1,

            /** DELIVERY_UNCONFIRMED value */
            DELIVERY_UNCONFIRMED = 2,

            /** DELIVERY_BROADCAST value */
            DELIVERY_BROADCAST = 3,

            /** DELIVERY_REFUSED value */
            DELIVERY_REFUSED = 4,

            /** DELIVERY_HELD value */
            DELIVERY_HELD = 5,

            /** DELIVERY_DENIED value */
            DELIVERY_DENIED = 6,

            /** DELIVERY_APPROVED value */
            DELIVERY_APPROVED = 7
        }

        /**
         * Properties of an AuditEvent.
         * @deprecated Use agentbus.v1.AuditEvent.$Properties instead.
         */
        interface IAuditEvent extends agentbus.v1.AuditEvent.$Properties {
        }

        /** Represents an AuditEvent. */
        class AuditEvent {

            /**
             * Constructs a new AuditEvent.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.AuditEvent.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** AuditEvent eventId. */
            eventId: Uint8Array;

            /** AuditEvent verifierId. */
            verifierId: string;

            /** AuditEvent verifiedAtMs. */
            verifiedAtMs: number;

            /** AuditEvent verdict. */
            verdict: agentbus.v1.Verdict;

            /** AuditEvent reason. */
            reason: agentbus.v1.Reason;

            /** AuditEvent detail. */
            detail: string;

            /** AuditEvent subjectSender. */
            subjectSender: string;

            /** AuditEvent header. */
            header: Uint8Array;

            /** AuditEvent signature. */
            signature: Uint8Array;

            /** AuditEvent payloadSize. */
            payloadSize: number;

            /** AuditEvent payloadSha256. */
            payloadSha256: Uint8Array;

            /** AuditEvent effectiveDepth. */
            effectiveDepth: number;

            /** AuditEvent rawSize. */
            rawSize: number;

            /** AuditEvent shedCount. */
            shedCount: number;

            /** AuditEvent windowStartMs. */
            windowStartMs: number;

            /** AuditEvent findings. */
            findings: agentbus.v1.GuardFinding.$Properties[];

            /** AuditEvent memory. */
            memory?: (agentbus.v1.MemoryAccess.$Properties|null);

            /** AuditEvent monitor. */
            monitor: boolean;

            /** AuditEvent wouldRefuse. */
            wouldRefuse: agentbus.v1.Reason;

            /**
             * Creates a new AuditEvent instance using the specified properties.
             * @param [properties] Properties to set
             * @returns AuditEvent instance
             */
            static create(properties: agentbus.v1.AuditEvent.$Shape): agentbus.v1.AuditEvent & agentbus.v1.AuditEvent.$Shape;
            static create(properties?: agentbus.v1.AuditEvent.$Properties): agentbus.v1.AuditEvent;

            /**
             * Encodes the specified AuditEvent message. Does not implicitly {@link agentbus.v1.AuditEvent.verify|verify} messages.
             * @param m AuditEvent message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.AuditEvent.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes an AuditEvent message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.AuditEvent & agentbus.v1.AuditEvent.$Shape} AuditEvent
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.AuditEvent & agentbus.v1.AuditEvent.$Shape;

            /**
             * Gets the type url for AuditEvent
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace AuditEvent {

            /** Properties of an AuditEvent. */
            interface $Properties {

                /** AuditEvent eventId */
                eventId?: (Uint8Array|null);

                /** AuditEvent verifierId */
                verifierId?: (string|null);

                /** AuditEvent verifiedAtMs */
                verifiedAtMs?: (number|null);

                /** AuditEvent verdict */
                verdict?: (agentbus.v1.Verdict|null);

                /** AuditEvent reason */
                reason?: (agentbus.v1.Reason|null);

                /** AuditEvent detail */
                detail?: (string|null);

                /** AuditEvent subjectSender */
                subjectSender?: (string|null);

                /** AuditEvent header */
                header?: (Uint8Array|null);

                /** AuditEvent signature */
                signature?: (Uint8Array|null);

                /** AuditEvent payloadSize */
                payloadSize?: (number|null);

                /** AuditEvent payloadSha256 */
                payloadSha256?: (Uint8Array|null);

                /** AuditEvent effectiveDepth */
                effectiveDepth?: (number|null);

                /** AuditEvent rawSize */
                rawSize?: (number|null);

                /** AuditEvent shedCount */
                shedCount?: (number|null);

                /** AuditEvent windowStartMs */
                windowStartMs?: (number|null);

                /** AuditEvent findings */
                findings?: (agentbus.v1.GuardFinding.$Properties[]|null);

                /** AuditEvent memory */
                memory?: (agentbus.v1.MemoryAccess.$Properties|null);

                /** AuditEvent monitor */
                monitor?: (boolean|null);

                /** AuditEvent wouldRefuse */
                wouldRefuse?: (agentbus.v1.Reason|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of an AuditEvent. */
            type $Shape = agentbus.v1.AuditEvent.$Properties;
        }

        /**
         * Properties of a MemoryAccess.
         * @deprecated Use agentbus.v1.MemoryAccess.$Properties instead.
         */
        interface IMemoryAccess extends agentbus.v1.MemoryAccess.$Properties {
        }

        /** Represents a MemoryAccess. */
        class MemoryAccess {

            /**
             * Constructs a new MemoryAccess.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.MemoryAccess.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** MemoryAccess op. */
            op: string;

            /** MemoryAccess ns. */
            ns: string;

            /** MemoryAccess keyHash. */
            keyHash: string;

            /** MemoryAccess valueHash. */
            valueHash: string;

            /** MemoryAccess valueSize. */
            valueSize: number;

            /** MemoryAccess revision. */
            revision: number;

            /** MemoryAccess status. */
            status: string;

            /**
             * Creates a new MemoryAccess instance using the specified properties.
             * @param [properties] Properties to set
             * @returns MemoryAccess instance
             */
            static create(properties: agentbus.v1.MemoryAccess.$Shape): agentbus.v1.MemoryAccess & agentbus.v1.MemoryAccess.$Shape;
            static create(properties?: agentbus.v1.MemoryAccess.$Properties): agentbus.v1.MemoryAccess;

            /**
             * Encodes the specified MemoryAccess message. Does not implicitly {@link agentbus.v1.MemoryAccess.verify|verify} messages.
             * @param m MemoryAccess message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.MemoryAccess.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes a MemoryAccess message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.MemoryAccess & agentbus.v1.MemoryAccess.$Shape} MemoryAccess
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.MemoryAccess & agentbus.v1.MemoryAccess.$Shape;

            /**
             * Gets the type url for MemoryAccess
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace MemoryAccess {

            /** Properties of a MemoryAccess. */
            interface $Properties {

                /** MemoryAccess op */
                op?: (string|null);

                /** MemoryAccess ns */
                ns?: (string|null);

                /** MemoryAccess keyHash */
                keyHash?: (string|null);

                /** MemoryAccess valueHash */
                valueHash?: (string|null);

                /** MemoryAccess valueSize */
                valueSize?: (number|null);

                /** MemoryAccess revision */
                revision?: (number|null);

                /** MemoryAccess status */
                status?: (string|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of a MemoryAccess. */
            type $Shape = agentbus.v1.MemoryAccess.$Properties;
        }

        /**
         * Properties of a GuardFinding.
         * @deprecated Use agentbus.v1.GuardFinding.$Properties instead.
         */
        interface IGuardFinding extends agentbus.v1.GuardFinding.$Properties {
        }

        /** Represents a GuardFinding. */
        class GuardFinding {

            /**
             * Constructs a new GuardFinding.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.GuardFinding.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** GuardFinding kind. */
            kind: string;

            /** GuardFinding path. */
            path: string;

            /** GuardFinding rule. */
            rule: string;

            /** GuardFinding hash. */
            hash: string;

            /** GuardFinding detail. */
            detail: string;

            /** GuardFinding action. */
            action: string;

            /**
             * Creates a new GuardFinding instance using the specified properties.
             * @param [properties] Properties to set
             * @returns GuardFinding instance
             */
            static create(properties: agentbus.v1.GuardFinding.$Shape): agentbus.v1.GuardFinding & agentbus.v1.GuardFinding.$Shape;
            static create(properties?: agentbus.v1.GuardFinding.$Properties): agentbus.v1.GuardFinding;

            /**
             * Encodes the specified GuardFinding message. Does not implicitly {@link agentbus.v1.GuardFinding.verify|verify} messages.
             * @param m GuardFinding message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.GuardFinding.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes a GuardFinding message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.GuardFinding & agentbus.v1.GuardFinding.$Shape} GuardFinding
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.GuardFinding & agentbus.v1.GuardFinding.$Shape;

            /**
             * Gets the type url for GuardFinding
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace GuardFinding {

            /** Properties of a GuardFinding. */
            interface $Properties {

                /** GuardFinding kind */
                kind?: (string|null);

                /** GuardFinding path */
                path?: (string|null);

                /** GuardFinding rule */
                rule?: (string|null);

                /** GuardFinding hash */
                hash?: (string|null);

                /** GuardFinding detail */
                detail?: (string|null);

                /** GuardFinding action */
                action?: (string|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of a GuardFinding. */
            type $Shape = agentbus.v1.GuardFinding.$Properties;
        }

        /**
         * Properties of a DeliveryRecord.
         * @deprecated Use agentbus.v1.DeliveryRecord.$Properties instead.
         */
        interface IDeliveryRecord extends agentbus.v1.DeliveryRecord.$Properties {
        }

        /** Represents a DeliveryRecord. */
        class DeliveryRecord {

            /**
             * Constructs a new DeliveryRecord.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.DeliveryRecord.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** DeliveryRecord msgId. */
            msgId: Uint8Array;

            /** DeliveryRecord recipient. */
            recipient: string;

            /** DeliveryRecord delivery. */
            delivery: agentbus.v1.Delivery;

            /** DeliveryRecord atMs. */
            atMs: number;

            /** DeliveryRecord reason. */
            reason: agentbus.v1.Reason;

            /** DeliveryRecord detail. */
            detail: string;

            /**
             * Creates a new DeliveryRecord instance using the specified properties.
             * @param [properties] Properties to set
             * @returns DeliveryRecord instance
             */
            static create(properties: agentbus.v1.DeliveryRecord.$Shape): agentbus.v1.DeliveryRecord & agentbus.v1.DeliveryRecord.$Shape;
            static create(properties?: agentbus.v1.DeliveryRecord.$Properties): agentbus.v1.DeliveryRecord;

            /**
             * Encodes the specified DeliveryRecord message. Does not implicitly {@link agentbus.v1.DeliveryRecord.verify|verify} messages.
             * @param m DeliveryRecord message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.DeliveryRecord.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes a DeliveryRecord message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.DeliveryRecord & agentbus.v1.DeliveryRecord.$Shape} DeliveryRecord
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.DeliveryRecord & agentbus.v1.DeliveryRecord.$Shape;

            /**
             * Gets the type url for DeliveryRecord
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace DeliveryRecord {

            /** Properties of a DeliveryRecord. */
            interface $Properties {

                /** DeliveryRecord msgId */
                msgId?: (Uint8Array|null);

                /** DeliveryRecord recipient */
                recipient?: (string|null);

                /** DeliveryRecord delivery */
                delivery?: (agentbus.v1.Delivery|null);

                /** DeliveryRecord atMs */
                atMs?: (number|null);

                /** DeliveryRecord reason */
                reason?: (agentbus.v1.Reason|null);

                /** DeliveryRecord detail */
                detail?: (string|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of a DeliveryRecord. */
            type $Shape = agentbus.v1.DeliveryRecord.$Properties;
        }

        /**
         * Properties of an AuditBatch.
         * @deprecated Use agentbus.v1.AuditBatch.$Properties instead.
         */
        interface IAuditBatch extends agentbus.v1.AuditBatch.$Properties {
        }

        /** Represents an AuditBatch. */
        class AuditBatch {

            /**
             * Constructs a new AuditBatch.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.AuditBatch.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** AuditBatch events. */
            events: agentbus.v1.AuditEvent.$Properties[];

            /** AuditBatch verifierId. */
            verifierId: string;

            /** AuditBatch chainId. */
            chainId: Uint8Array;

            /** AuditBatch seq. */
            seq: number;

            /** AuditBatch prevHash. */
            prevHash: Uint8Array;

            /** AuditBatch keyId. */
            keyId: string;

            /** AuditBatch createdAtMs. */
            createdAtMs: number;

            /** AuditBatch deliveries. */
            deliveries: agentbus.v1.DeliveryRecord.$Properties[];

            /**
             * Creates a new AuditBatch instance using the specified properties.
             * @param [properties] Properties to set
             * @returns AuditBatch instance
             */
            static create(properties: agentbus.v1.AuditBatch.$Shape): agentbus.v1.AuditBatch & agentbus.v1.AuditBatch.$Shape;
            static create(properties?: agentbus.v1.AuditBatch.$Properties): agentbus.v1.AuditBatch;

            /**
             * Encodes the specified AuditBatch message. Does not implicitly {@link agentbus.v1.AuditBatch.verify|verify} messages.
             * @param m AuditBatch message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.AuditBatch.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes an AuditBatch message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.AuditBatch & agentbus.v1.AuditBatch.$Shape} AuditBatch
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.AuditBatch & agentbus.v1.AuditBatch.$Shape;

            /**
             * Gets the type url for AuditBatch
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace AuditBatch {

            /** Properties of an AuditBatch. */
            interface $Properties {

                /** AuditBatch events */
                events?: (agentbus.v1.AuditEvent.$Properties[]|null);

                /** AuditBatch verifierId */
                verifierId?: (string|null);

                /** AuditBatch chainId */
                chainId?: (Uint8Array|null);

                /** AuditBatch seq */
                seq?: (number|null);

                /** AuditBatch prevHash */
                prevHash?: (Uint8Array|null);

                /** AuditBatch keyId */
                keyId?: (string|null);

                /** AuditBatch createdAtMs */
                createdAtMs?: (number|null);

                /** AuditBatch deliveries */
                deliveries?: (agentbus.v1.DeliveryRecord.$Properties[]|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of an AuditBatch. */
            type $Shape = agentbus.v1.AuditBatch.$Properties;
        }

        /**
         * Properties of a SignedAuditBatch.
         * @deprecated Use agentbus.v1.SignedAuditBatch.$Properties instead.
         */
        interface ISignedAuditBatch extends agentbus.v1.SignedAuditBatch.$Properties {
        }

        /** Represents a SignedAuditBatch. */
        class SignedAuditBatch {

            /**
             * Constructs a new SignedAuditBatch.
             * @param [p] Properties to set
             */
            constructor(p?: agentbus.v1.SignedAuditBatch.$Properties);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];

            /** SignedAuditBatch batch. */
            batch: Uint8Array;

            /** SignedAuditBatch signature. */
            signature: Uint8Array;

            /**
             * Creates a new SignedAuditBatch instance using the specified properties.
             * @param [properties] Properties to set
             * @returns SignedAuditBatch instance
             */
            static create(properties: agentbus.v1.SignedAuditBatch.$Shape): agentbus.v1.SignedAuditBatch & agentbus.v1.SignedAuditBatch.$Shape;
            static create(properties?: agentbus.v1.SignedAuditBatch.$Properties): agentbus.v1.SignedAuditBatch;

            /**
             * Encodes the specified SignedAuditBatch message. Does not implicitly {@link agentbus.v1.SignedAuditBatch.verify|verify} messages.
             * @param m SignedAuditBatch message or plain object to encode
             * @param [w] Writer to encode to
             * @returns Writer
             */
            static encode(m: agentbus.v1.SignedAuditBatch.$Properties, w?: $protobuf.Writer): $protobuf.Writer;

            /**
             * Decodes a SignedAuditBatch message from the specified reader or buffer.
             * @param r Reader or buffer to decode from
             * @param [l] Message length if known beforehand
             * @returns {agentbus.v1.SignedAuditBatch & agentbus.v1.SignedAuditBatch.$Shape} SignedAuditBatch
             * @throws {Error} If the payload is not a reader or valid buffer
             * @throws {$protobuf.util.ProtocolError} If required fields are missing
             */
            static decode(r: ($protobuf.Reader|Uint8Array), l?: number): agentbus.v1.SignedAuditBatch & agentbus.v1.SignedAuditBatch.$Shape;

            /**
             * Gets the type url for SignedAuditBatch
             * @param [prefix] Custom type url prefix, defaults to `"type.googleapis.com"`
             * @returns The type url
             */
            static getTypeUrl(prefix?: string): string;
        }

        namespace SignedAuditBatch {

            /** Properties of a SignedAuditBatch. */
            interface $Properties {

                /** SignedAuditBatch batch */
                batch?: (Uint8Array|null);

                /** SignedAuditBatch signature */
                signature?: (Uint8Array|null);

                /** Unknown fields preserved while decoding when enabled */
                $unknowns?: Uint8Array[];
            }

            /** Shape of a SignedAuditBatch. */
            type $Shape = agentbus.v1.SignedAuditBatch.$Properties;
        }
    }
}
