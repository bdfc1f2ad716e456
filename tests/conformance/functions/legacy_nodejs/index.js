'use strict';

exports.handler = function (event, context, callback) {
  callback(null, context.function.name + ' on ' + process.version);
};
