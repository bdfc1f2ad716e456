'use strict';

exports.handler = function (event, context, callback) {
  var order = JSON.parse(event.toString());
  console.log('handling order ' + order.id);
  callback(null, { id: order.id, total: order.items.reduce(function (a, b) { return a + b; }, 0) });
};
