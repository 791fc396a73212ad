import Foundation
import Testing

/// The event schema names its fields as ECS does: every field outside `bind`
/// is an ECS field of a fitting type, an array where ECS has one, with only
/// values ECS allows (Tests/tools/check-ecs.py against ECS's own definitions
/// in Tests/fixtures/ecs-fields.json).
struct SchemaTests {
    static let repository = RecordFixtures.repository.path
    static let checker = "\(repository)/Tests/tools/check-ecs.py"
    static let ecs = "\(repository)/Tests/fixtures/ecs-fields.json"
    static let schema = "\(repository)/schemas/bind-event.v1.schema.json"

    @Test func fieldsOutsideBindAreECS() throws {
        let result = try runTool("/usr/bin/env", ["python3", Self.checker, Self.schema, Self.ecs])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    /// The check fails where it should: a field ECS does not have, a wrong
    /// type, a value ECS does not allow.
    @Test func theCheckRefusesWhatECSDoesNot() throws {
        var schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.schema))) as? [String: Any])
        var properties = try #require(schema["properties"] as? [String: Any])
        var process = try #require(properties["process"] as? [String: Any])
        var fields = try #require(process["properties"] as? [String: Any])
        fields["comm"] = ["type": "string"]
        process["properties"] = fields
        properties["process"] = process
        var event = try #require(properties["event"] as? [String: Any])
        var eventFields = try #require(event["properties"] as? [String: Any])
        eventFields["kind"] = ["enum": ["event", "heartbeat"]]
        event["properties"] = eventFields
        properties["event"] = event
        schema["properties"] = properties
        let path = FileManager.default.temporaryDirectory.appending(path: "schema-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JSONSerialization.data(withJSONObject: schema).write(to: URL(fileURLWithPath: path))
        let result = try runTool("/usr/bin/env", ["python3", Self.checker, path, Self.ecs])
        #expect(result.status == 1)
        #expect(result.stdout.contains("process.comm: not an ECS field"), "\(result.stdout)")
        #expect(result.stdout.contains("'heartbeat' is not among ECS's allowed values"), "\(result.stdout)")
    }
}
