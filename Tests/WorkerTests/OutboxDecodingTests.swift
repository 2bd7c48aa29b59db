// Decoding, naming, bind encoding and error sorting: no services needed.
import JSON
@testable import Persistence
import XCTest
@testable import Gateway
@testable import Worker

final class OutboxDecodingTests: XCTestCase {
    func testTheWorkersStreamListIsTheGatewaysOutboxList() {
        XCTAssertEqual(OutboxStreams.userOutboxes, UserKeys.allOutboxes)
        XCTAssertEqual(OutboxStreams.deadLetterStream(for: "{u03}:outbox"), "{u03}:outbox:dead")
        XCTAssertTrue(OutboxStreams.groups.contains(OutboxStreams.writerGroup))
    }

    func testAVersionOneEntryDecodes() throws {
        let entry = OutboxEntry(stream: "{u01}:outbox", id: "1700000000000-3", fields: [
            ("v", "1"), ("type", "WALLET_CHARGED"), ("id", "chg_1"), ("at", "1700000000123"),
            ("data", #"{"userId":"usr_1","amount":5,"balanceAfter":9,"chargeId":"chg_1"}"#),
        ], deliveries: 1)
        let event = try OutboxEvent.decode(entry) { $0 == "WALLET_CHARGED" }
        XCTAssertEqual(event.id, "chg_1")
        XCTAssertEqual(event.atMilliseconds, 1_700_000_000_123)
        XCTAssertEqual(event.data["amount"], .int(5))
        XCTAssertNoThrow(try WalletChargedHandler().validate(event))

        let wrongType = OutboxEntry(stream: "s", id: "1-0", fields: entry.fields.map {
            $0.name == "data" ? ("data", #"{"userId":7}"#) : $0
        }, deliveries: 1)
        let decoded = try OutboxEvent.decode(wrongType) { _ in true }
        XCTAssertThrowsError(try WalletChargedHandler().validate(decoded))
        // Missing members are left to the table's NOT NULL, not refused here.
        let missing = OutboxEntry(stream: "s", id: "1-0", fields: entry.fields.map { $0.name == "data" ? ("data", "{}") : $0 }, deliveries: 1)
        XCTAssertNoThrow(try WalletChargedHandler().validate(try OutboxEvent.decode(missing) { _ in true }))
    }

    func testStreamIDsOrderByTimeThenSequence() {
        XCTAssertEqual(StreamID("1700000000000-12")?.milliseconds, 1_700_000_000_000)
        XCTAssertLessThan(StreamID("5-9")!, StreamID("6-0")!)
        XCTAssertLessThan(StreamID("6-2")!, StreamID("6-10")!)
        XCTAssertNil(StreamID("abc"))
        XCTAssertNil(StreamID("1-2-3"))
        XCTAssertEqual(StreamID("42-7")?.description, "42-7")
    }

    func testArrayLiteralsKeepValuesAsData() {
        var texts = PostgresArrayLiteral()
        for value in [#"a"b"#, #"c\d"#, "NULL", "x,y}", "", nil] as [String?] { texts.append(text: value) }
        XCTAssertEqual(texts.postgresText, #"{"a\"b","c\\d","NULL","x,y}","",NULL}"#)
        XCTAssertEqual(texts.postgresText, ([#"a"b"#, #"c\d"#, "NULL", "x,y}", "", nil] as [String?]).postgresText,
                       "the same text as the generic array bind")
        var numbers = PostgresArrayLiteral()
        for value in [1, -2, nil, Int64.max] as [Int64?] { numbers.append(integer: value) }
        XCTAssertEqual(numbers.postgresText, "{1,-2,NULL,9223372036854775807}")
        XCTAssertEqual(PostgresArrayLiteral().postgresText, "{}")
    }

    func testFailuresAreSortedIntoOutagesAndRejectedData() {
        XCTAssertEqual(OutboxWriter.classify(OutboxDecodeError("bad")), .rejected)
        XCTAssertEqual(OutboxWriter.classify(NSError(domain: "x", code: 1)), .unavailable)
        XCTAssertEqual(OutboxWriter.classify(PostgresError(.connectFailed, "refused", connectionBroken: true)), .unavailable)
        XCTAssertEqual(OutboxWriter.classify(PostgresError(.connectionLost, "gone", connectionBroken: true)), .unavailable)
        // What the server says about the values: isolate the event.
        for state in ["23502", "23514", "22P02", "22003"] {
            XCTAssertEqual(OutboxWriter.classify(PostgresError(.server, "no", sqlState: state)), .rejected, state)
        }
        // What the server says about itself or the schema: hold the batch and retry.
        for state in ["57P01", "40001", "40P01", "53300", "42P01", "55P03"] {
            XCTAssertEqual(OutboxWriter.classify(PostgresError(.server, "not now", sqlState: state)), .unavailable, state)
        }
        XCTAssertEqual(OutboxWriter.classify(PostgresError(.invalidParameter, "NUL byte")), .rejected)
    }
}
