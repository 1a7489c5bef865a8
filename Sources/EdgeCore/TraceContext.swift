public import HTTPTypes
public import Tracing

/// Carrying W3C trace context (`traceparent`) across what is not a function call: an HTTP
/// request, a queue message, a forwarded durable-object call. Whatever instrument the process
/// bootstrapped (`InstrumentationSystem`) does the work; with none, every function here answers
/// nil and costs nothing.
public enum TraceContext {
    private struct DictionaryInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }

    private struct DictionaryExtractor: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }

    private struct FieldsInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout HTTPFields) {
            if let name = HTTPField.Name(key) { carrier[name] = value }
        }
    }

    private struct FieldsExtractor: Extractor {
        func extract(key: String, from carrier: HTTPFields) -> String? { HTTPField.Name(key).flatMap { carrier[$0] } }
    }

    /// The `traceparent` of `context` (the current task's by default), or nil when it carries no
    /// span or no instrument is bootstrapped.
    public static func traceParent(of context: ServiceContext? = .current) -> String? {
        guard let context else { return nil }
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        return carrier["traceparent"]
    }

    /// A context continuing the trace of `traceParent`; nil when there is none to continue (no
    /// value, one the instrument cannot parse, or no instrument).
    public static func context(traceParent: String?) -> ServiceContext? {
        guard let traceParent, !traceParent.isEmpty else { return nil }
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": traceParent], into: &context, using: DictionaryExtractor())
        return self.traceParent(of: context) == nil ? nil : context
    }

    /// Writes the current context's `traceparent` (and `tracestate`) into `fields`.
    public static func inject(into fields: inout HTTPFields, from context: ServiceContext? = .current) {
        guard let context else { return }
        InstrumentationSystem.instrument.inject(context, into: &fields, using: FieldsInjector())
    }

    /// The context a request's `traceparent` (and `tracestate`) continue; `topLevel` when it has none.
    public static func extract(from fields: HTTPFields) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(fields, into: &context, using: FieldsExtractor())
        return context
    }

    /// The trace id of a `traceparent` (`00-<trace id>-<span id>-<flags>`).
    public static func traceID(of traceParent: String) -> String? {
        let parts = traceParent.split(separator: "-")
        return parts.count == 4 && parts[1].count == 32 ? String(parts[1]) : nil
    }
}
