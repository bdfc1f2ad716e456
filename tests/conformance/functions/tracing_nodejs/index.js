'use strict';

// As the Node SDK's own test function (test/figures/main.js test_tracing) reads it.
exports.handler = function (event, context, callback) {
  callback(null, {
    openTracingSpanContext: context.tracing.openTracingSpanContext,
    openTracingSpanBaggages: context.tracing.openTracingSpanBaggages,
    jaegerEndpoint: context.tracing.jaegerEndpoint,
  });
};
