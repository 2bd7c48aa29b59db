// Which event a performance belongs to: asked of PostgreSQL once per performance per loop and kept (a
// performance never changes concert), so holding a seat does not wait on PostgreSQL after the first hold
// of a performance on this loop. Concurrent requests for a performance not known yet wait for the one
// lookup in flight instead of each querying (a thousand fans press "hold" at the same moment).
enum PerformanceDirectory {
    /// Calls `next` with the performance's event; answers 404 itself for an unknown performance.
    static func eventOf(_ request: APIRequest, _ performanceID: String, _ next: @escaping (String) -> Void) {
        guard PerformanceID.isWellFormed(performanceID) else { return request.fail(APIError.notFound("performance")) }
        let state = request.loopState
        let decide: (Error?) -> Void = { error in
            if let error { return request.fail(error) }
            guard let eventID = state.performanceEvents[performanceID] else { return request.fail(APIError.notFound("performance")) }
            next(eventID)
        }
        if state.performanceEvents[performanceID] != nil { return decide(nil) }
        if state.performanceLookups[performanceID] != nil {
            state.performanceLookups[performanceID]!.append(decide)
            return
        }
        state.performanceLookups[performanceID] = [decide]
        request.postgres({ db in try ConcertStore.performance(id: performanceID, db) }) { result in
            var failure: Error?
            switch result {
            case .success(let performance?): state.performanceEvents[performanceID] = performance.eventID
            case .success(nil): break
            case .failure(let error): failure = error
            }
            for waiter in state.performanceLookups.removeValue(forKey: performanceID) ?? [] { waiter(failure) }
        }
    }
}
