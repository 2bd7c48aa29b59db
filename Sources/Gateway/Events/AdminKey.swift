// The admin routes' gate: `X-Admin-Key` must equal FLOODGATE_ADMIN_KEY. With no key configured (the
// production default) every admin route is 403, so an admin surface is never open by accident.
enum AdminKey {
    static func check(_ request: APIRequest) throws {
        guard let configured = request.services.configuration.adminKey else {
            throw APIError(403, "FORBIDDEN", "admin routes are disabled: no FLOODGATE_ADMIN_KEY is configured")
        }
        guard let given = request.header("X-Admin-Key"), constantTimeEqual(Array(given.utf8), Array(configured.utf8)) else {
            throw APIError(403, "FORBIDDEN", "a valid X-Admin-Key is required")
        }
    }

    /// Compares without stopping at the first difference, so timing does not reveal a prefix.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
